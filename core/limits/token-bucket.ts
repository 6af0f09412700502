/**
 * A token bucket in bytes that may go into debt: a consumer takes what it has already read
 * (sockets hand us whole chunks, we cannot ask for fewer bytes) and then waits until the
 * bucket is back to zero. Sessions sharing a bucket therefore share its rate: every take adds
 * to the one debt every sharer waits out (3proxy's shared bandlim "pipe").
 *
 * Waiting is a FIFO queue on the bucket, not a timer per reader. With a timer per reader, each
 * one waits out the debt it saw at its own take and the later takes of the others are not
 * waited for again, so the debt (bytes let through ahead of the rate) grows towards one read
 * chunk per sharer: 1,000 sessions reading 64 KiB chunks ran 7-46 % over the rate for the
 * first ~10 s. The queue wakes readers in order, only as many as the tokens cover, and the one
 * timer is re-armed from the real balance, so the debt stays within about one chunk.
 */
import type { Clock } from '../env';

/** Burst allowance: the bucket holds at most this much time's worth of tokens. */
const BURST_MS = 50;
/** Smallest burst in bytes, so slow rules still pass a typical TCP segment at once. */
const MIN_BURST = 1500;

/** A reader parked on a bucket (the throttled relay's Pump). */
export interface BucketWaiter {
  /** The bytes it will probably take once woken (its last chunk): how many to wake at once. */
  readonly expect: number;
  wake(): void;
}

export class TokenBucket {
  /** Bytes per millisecond. */
  private readonly perMs: number;
  private readonly capacity: number;
  private tokens: number;
  private last: number;
  /** Insertion order is FIFO order; a Set makes cancel (a session ending while parked) O(1). */
  private readonly waiters = new Set<BucketWaiter>();
  private timer: NodeJS.Timeout | null = null;

  /** `bitsPerSecond` as in 3proxy's bandlim; the bucket starts full. */
  constructor(
    readonly bitsPerSecond: number,
    private readonly clock: Clock,
  ) {
    this.perMs = bitsPerSecond / 8 / 1000;
    this.capacity = Math.max(MIN_BURST, this.perMs * BURST_MS);
    this.tokens = this.capacity;
    this.last = clock.now();
  }

  /** Takes `bytes` (possibly into debt); returns the milliseconds to wait before reading more. */
  take(bytes: number): number {
    this.refill();
    this.tokens -= bytes;
    return this.delay();
  }

  /** Milliseconds until the bucket is out of debt (0 when it is not in debt). */
  delay(): number {
    if (this.tokens >= 0) return 0;
    return Math.ceil(-this.tokens / this.perMs);
  }

  /** Current balance in bytes (negative: debt), after refilling. For tests and metrics. */
  balance(): number {
    this.refill();
    return this.tokens;
  }

  /** Parks `w` until the debt is paid and the readers queued before it had their turn. */
  wait(w: BucketWaiter): void {
    this.waiters.add(w);
    this.arm(this.delay());
  }

  /** Takes `w` out of the queue (its session ended). */
  cancel(w: BucketWaiter): void {
    this.waiters.delete(w);
    if (this.waiters.size === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Readers parked now (for tests and metrics). */
  get waiting(): number {
    return this.waiters.size;
  }

  private arm(ms: number): void {
    if (this.timer !== null || this.waiters.size === 0) return;
    this.timer = setTimeout(this.onTimer, Math.max(1, ms));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.refill();
    // Wake from the head while the tokens cover what the woken are expected to take; at least
    // one when out of debt, so a reader bigger than the burst is not starved.
    let avail = this.tokens;
    const woken: BucketWaiter[] = [];
    for (const w of this.waiters) {
      if (avail < 0) break;
      woken.push(w);
      avail -= Math.max(1, w.expect);
    }
    for (const w of woken) this.waiters.delete(w);
    // Re-armed from the estimate; when it fires, the balance has the real takes in it.
    if (this.waiters.size > 0) this.arm(Math.ceil(-avail / this.perMs));
    // Woken last: a waker may park itself on this bucket again (the queue's tail).
    for (const w of woken) w.wake();
  };

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
  }
}
