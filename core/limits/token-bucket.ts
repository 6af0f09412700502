/**
 * A token bucket in bytes that may go into debt: a consumer takes what it has already read
 * (sockets hand us whole chunks, we cannot ask for fewer bytes) and then waits until the
 * bucket is back to zero. Sessions sharing a bucket therefore share its rate: every take adds
 * to the one debt every sharer waits out (3proxy's shared bandlim "pipe").
 */
import type { Clock } from '../env';

/** Burst allowance: the bucket holds at most this much time's worth of tokens. */
const BURST_MS = 50;
/** Smallest burst in bytes, so slow rules still pass a typical TCP segment at once. */
const MIN_BURST = 1500;

export class TokenBucket {
  /** Bytes per millisecond. */
  private readonly perMs: number;
  private readonly capacity: number;
  private tokens: number;
  private last: number;

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

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
  }
}
