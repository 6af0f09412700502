/**
 * The bucket's FIFO of parked readers, on jest's fake timers (Date.now is faked with them, so
 * the bucket's clock and its timer agree). What it guards: sharers that each read big chunks
 * must not let the debt grow with their number (1,000 readers of 64 KiB ran ~46 % over the
 * rate with a timer per reader).
 */
import { TokenBucket, type BucketWaiter } from '../../core/limits/token-bucket';

const clock = { now: (): number => Date.now() };

/** A reader that takes `chunk` bytes every time it is woken, then parks again while in debt. */
class Reader implements BucketWaiter {
  taken = 0;
  wakes = 0;
  constructor(
    private readonly bucket: TokenBucket,
    readonly expect: number,
    private readonly log?: number[],
    readonly id = 0,
  ) {}
  read(): void {
    this.taken += this.expect;
    if (this.bucket.take(this.expect) > 0) this.bucket.wait(this);
    else queueMicrotask(() => this.read());
  }
  wake(): void {
    this.wakes++;
    this.log?.push(this.id);
    this.read();
  }
}

describe('TokenBucket queue', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('holds the rate for 1,000 sharers reading 64 KiB chunks, from the first second', () => {
    const bucket = new TokenBucket(80_000_000, clock); // 10,000 B/ms
    const readers = Array.from({ length: 1000 }, () => new Reader(bucket, 65_536));
    // All start at once; the first take puts the bucket in debt, the rest queue without reading.
    readers[0]!.read();
    for (const r of readers.slice(1)) {
      if (bucket.balance() < 0) bucket.wait(r);
      else r.read();
    }
    jest.advanceTimersByTime(2_000);
    const before = readers.reduce((n, r) => n + r.taken, 0);
    jest.advanceTimersByTime(10_000);
    const sent = readers.reduce((n, r) => n + r.taken, 0) - before;
    const rate = sent / 10_000;
    expect(rate).toBeGreaterThan(9_500);
    expect(rate).toBeLessThan(10_500);
    // The debt stays within a few chunks, not one per sharer.
    expect(-bucket.balance()).toBeLessThan(10 * 65_536);
    // Everyone got turns (FIFO): no reader starved, none favoured.
    const wakes = readers.map((r) => r.wakes);
    expect(Math.min(...wakes)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...wakes) - Math.min(...wakes)).toBeLessThanOrEqual(1);
  });

  it('wakes in FIFO order and a cancelled reader is skipped', () => {
    const bucket = new TokenBucket(8_000, clock); // 1 B/ms, burst 1500 B
    const order: number[] = [];
    bucket.take(3_000); // 1,500 B of debt
    const rs = [1, 2, 3].map((id) => new Reader(bucket, 1_000, order, id));
    for (const r of rs) bucket.wait(r);
    bucket.cancel(rs[1]!);
    expect(bucket.waiting).toBe(2);
    jest.advanceTimersByTime(1_500);
    expect(order).toEqual([1]);
    jest.advanceTimersByTime(3_000);
    expect(order.slice(0, 2)).toEqual([1, 3]);
    expect(rs[1]!.wakes).toBe(0);
  });

  it('leaves no timer behind once the last reader is cancelled', () => {
    const bucket = new TokenBucket(8_000, clock);
    bucket.take(10_000);
    const r = new Reader(bucket, 100);
    bucket.wait(r);
    expect(jest.getTimerCount()).toBe(1);
    bucket.cancel(r);
    expect(jest.getTimerCount()).toBe(0);
  });
});
