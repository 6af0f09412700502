/** A Clock and Timers pair that only moves when told: scheduler tests cross period boundaries without waiting. */
import type { Clock } from '../../core/env';
import type { Timers } from '../../core/scheduler';

interface Pending {
  readonly at: number;
  readonly fn: () => void;
}

export class FakeClock implements Clock, Timers {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Timers armed and not yet fired or cleared. */
  get armed(): number {
    return this.pending.size;
  }

  /**
   * Moves time forward by `ms`, firing each due timer at its own time, oldest first; `settle`
   * runs after each (awaiting the work the timer started, which may arm the next timer).
   */
  async advance(ms: number, settle: () => Promise<void> = () => Promise.resolve()): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, Pending] | undefined;
      for (const e of this.pending) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
  }
}
