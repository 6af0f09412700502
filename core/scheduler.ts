/**
 * Scheduler: 3proxy's scheduled jobs. A job runs when the local-time period it is registered
 * for (minutely ... annually) rolls over, and once more on every reload and on stop.
 *
 *   start() -> one timer, armed for the next minute boundary of the Clock
 *           -> tick(): every job whose period key changed since its last run runs (serially)
 *   runAll(reason) -> every job once ('reload', 'stop')
 *   stop()  -> the timer is cleared; nothing runs on its own afterwards
 *
 * Time comes only from the injected Clock and timers only from the injected Timers, so a test
 * moves a fake clock across a boundary instead of waiting for one.
 */
import type { Clock } from './env';
import type { Logger } from './logger';
import { periodKey } from './limits/periods';
import type { SchedulePeriod } from './plugin-api';

export type RunReason = 'period' | 'reload' | 'stop';

export interface SchedulerJob {
  /** Who registered it, for the error log ("accessLog", a plugin name). */
  readonly owner: string;
  readonly every: SchedulePeriod;
  run(reason: RunReason): void | Promise<void>;
}

/** setTimeout/clearTimeout, injectable so a fake clock can fire what is due when it moves. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // The listening sockets keep the process alive, not the scheduler.
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

const MINUTE = 60_000;

/** Every period boundary is also a minute boundary (time zones are whole minutes off UTC). */
function msToNextMinute(now: number): number {
  const d = new Date(now);
  const next = new Date(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes() + 1, 0, 0).getTime();
  // A backwards DST or clock step could make `next` not be ahead; never spin.
  return Math.min(MINUTE, Math.max(1, next - now));
}

interface Entry {
  readonly job: SchedulerJob;
  key: number;
}

export class Scheduler {
  private readonly entries: Entry[] = [];
  private timer: unknown = null;
  private running = false;
  /** Serializes ticks and runAll, so no job overlaps itself (rotation must not run twice at once). */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly timers: Timers = systemTimers,
  ) {}

  add(job: SchedulerJob): void {
    this.entries.push({ job, key: periodKey(job.every, this.clock.now()) });
    if (this.running) this.arm();
  }

  get size(): number {
    return this.entries.length;
  }

  /** Arms the timer; without jobs there is nothing to wake for, so no timer exists. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.clock.now();
    // Periods that rolled over between construction and start do not count as a rollover.
    for (const e of this.entries) e.key = periodKey(e.job.every, now);
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  /** Runs the jobs whose period rolled over at the clock's current time; resolves when they are done. */
  tick(): Promise<void> {
    return this.enqueue(async () => {
      const now = this.clock.now();
      for (const e of this.entries) {
        const key = periodKey(e.job.every, now);
        if (key === e.key) continue;
        e.key = key;
        await this.runOne(e.job, 'period');
      }
    });
  }

  /** Every job once, whatever its period (3proxy: on reload and on exit). */
  runAll(reason: Exclude<RunReason, 'period'>): Promise<void> {
    return this.enqueue(async () => {
      for (const e of this.entries) await this.runOne(e.job, reason);
    });
  }

  /** Resolves when every tick or runAll started so far has finished. */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(fn);
    return this.chain;
  }

  private async runOne(job: SchedulerJob, reason: RunReason): Promise<void> {
    try {
      await job.run(reason);
    } catch (err) {
      this.logger.error({ err, owner: job.owner, every: job.every, reason }, 'scheduled job failed');
    }
  }

  private arm(): void {
    if (!this.running || this.entries.length === 0) return;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.tick().then(() => this.arm());
    }, msToNextMinute(this.clock.now()));
  }
}
