import { TokenBucket } from '../../core/limits';

const fakeClock = (): { now: () => number; t: number } => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};

describe('TokenBucket', () => {
  it('lets a small burst through, then asks for the time the debt takes to clear', () => {
    const clock = fakeClock();
    const b = new TokenBucket(8_000_000, clock); // 1,000,000 B/s = 1000 B/ms; burst 50 ms = 50,000 B
    expect(b.take(50_000)).toBe(0);
    expect(b.take(10_000)).toBe(10);
    expect(b.balance()).toBe(-10_000);
    clock.t += 10;
    expect(b.balance()).toBe(0);
    expect(b.delay()).toBe(0);
  });

  it('never refills beyond its burst capacity', () => {
    const clock = fakeClock();
    const b = new TokenBucket(8_000, clock); // 1 B/ms; burst floor 1500 B
    clock.t += 3_600_000;
    expect(b.balance()).toBe(1500);
    expect(b.take(2500)).toBe(1000);
  });

  it('holds the rate for sharers: total bytes over time stay at the rate', () => {
    const clock = fakeClock();
    const b = new TokenBucket(800_000, clock); // 100 B/ms
    let sent = 0;
    const nextAt = [clock.t, clock.t];
    const end = clock.t + 10_000;
    // Two readers of 16 KB chunks, each reading again when its own wait is over.
    while (Math.min(...nextAt) < end) {
      const i = nextAt[0]! <= nextAt[1]! ? 0 : 1;
      clock.t = nextAt[i]!;
      sent += 16_384;
      nextAt[i] = clock.t + b.take(16_384);
    }
    const rate = sent / 10_000;
    expect(rate).toBeGreaterThan(95);
    expect(rate).toBeLessThan(105);
  });
});
