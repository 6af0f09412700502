/**
 * Traffic counters and quotas (3proxy counter/countin/countout/countall/nocount*).
 *
 * Selection at session start: per direction, every matching rule in order until an exempt
 * rule of that direction (`all` rules are in both walks). A selected counter already at its
 * limit refuses the request (PRX_ERR_QUOTA_EXCEEDED, 3proxy 10).
 *
 * Persistence: `{version: 1, counters: {id: {bytes, resetAt, updatedAt}}, report?}` written
 * to a temporary file, fsynced, then renamed over the old one, so a crash leaves either the
 * old or the new file, never a torn one; written every `saveInterval` and on stop.
 *
 * Reports (3proxy `counter FILE PERIOD REPORTNAME`): each numbered counter also counts the
 * bytes of the current report period. When that period has ended (checked with every save,
 * on start and on stop), one text file is written for it, named from the period's start,
 * with a line `NNNNN BYTES #comment` per counter (3proxy's `%05d %020llu #%s`). The report
 * period's bytes persist with the counters, so a restart does not cut a period short.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { compileMatch, walkMatches, type AclRequest, type MatchSpec, type Matcher } from '../acl';
import type { Clock } from '../env';
import { periodChanged, periodKey, type Every } from './periods';
import { rotatedName } from '../../operators/log/writer';

export type CounterDirection = 'in' | 'out' | 'all';

/** One `counters.rules` entry as validated by the schema. */
export interface CounterRuleSpec {
  readonly id?: number;
  readonly comment?: string;
  readonly direction?: CounterDirection;
  readonly every?: Every;
  readonly limitMB?: number;
  readonly exempt?: boolean;
  readonly match?: MatchSpec;
}

/** `counters.report`, with `file` absolute. */
export interface CounterReportSpec {
  readonly every: Every;
  readonly file: string;
}

/** One counter's total; rules with the same non-zero id share it. */
export class Counter {
  bytes = 0;
  updatedAt = 0;
  /** Bytes counted in the current report period (not reset with `bytes`). */
  reportBytes = 0;
  // comment, every and limit change in place on a reload, so sessions holding this counter
  // from before the reload see the new quota.
  constructor(
    readonly id: number,
    public comment: string,
    public every: Every,
    /** Bytes allowed per period; Infinity when the rule only counts. */
    public limit: number,
    public resetAt: number,
  ) {}

  /** Resets the total when its period has passed. */
  tick(now: number): void {
    if (periodChanged(this.every, this.resetAt, now)) {
      this.bytes = 0;
      this.resetAt = now;
    }
  }

  add(bytes: number, now: number): void {
    this.tick(now);
    this.bytes += bytes;
    this.reportBytes += bytes;
    this.updatedAt = now;
  }

  get exceeded(): boolean {
    return this.bytes >= this.limit;
  }
}

interface CounterRule {
  readonly exempt: boolean;
  readonly dirs: { in: boolean; out: boolean };
  counter: Counter;
  /** The rule's spec as text, to recognise an unchanged unnamed (id 0) counter on reload. */
  readonly key: string;
}

/** The counters a session adds to, per direction (`all` counters are in both). */
export interface SelectedCounters {
  readonly in: Counter[];
  readonly out: Counter[];
}

interface SavedCounter {
  bytes: number;
  resetAt: number;
  updatedAt: number;
}

interface SavedReport {
  every: Every;
  since: number;
  bytes: Record<string, number>;
}

/** Temp file, fsync, rename: readers see the old file or the new one, never a torn one. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export class CounterStore {
  private readonly rules: CounterRule[] = [];
  private readonly matchers: Matcher[] = [];
  private readonly byId = new Map<number, Counter>();
  private timer: NodeJS.Timeout | null = null;
  /** Ids taken over from the previous store on reload: memory is newer than the file. */
  private readonly adopted = new Set<number>();
  /** Start of the report period being counted; shared with the store that adopts this one. */
  private reportState: { since: number };
  private reportAdopted = false;
  /** Report files written by this store, oldest first. */
  readonly reportsWritten: string[] = [];

  constructor(
    specs: readonly CounterRuleSpec[],
    private readonly clock: Clock,
    /** Absolute path of the JSON file; null = not persisted. */
    readonly file: string | null,
    pointer = '/counters/rules',
    /** Periodic text reports; null (or every: never) = none. */
    readonly report: CounterReportSpec | null = null,
  ) {
    const now = clock.now();
    this.reportState = { since: now };
    if (report !== null && report.every === 'never') this.report = null;
    specs.forEach((s, i) => {
      const id = s.id ?? 0;
      const limit = s.limitMB === undefined ? Infinity : Math.round(s.limitMB * 1024 * 1024);
      let counter = id === 0 ? undefined : this.byId.get(id);
      if (counter === undefined) {
        counter = new Counter(id, s.comment ?? '', s.every ?? 'never', limit, now);
        if (id !== 0) this.byId.set(id, counter);
      }
      const d = s.direction ?? 'all';
      this.rules.push({ exempt: s.exempt === true, dirs: { in: d !== 'out', out: d !== 'in' }, counter, key: JSON.stringify(s) });
      this.matchers.push(compileMatch(s.match ?? {}, `${pointer}/${i}/match`));
    });
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The persisted counters by id (for reports, the admin page and tests). */
  counter(id: number): Counter | undefined {
    return this.byId.get(id);
  }

  /** Every matching rule per direction until an exempt one; periods are reset first. */
  select(req: AclRequest): SelectedCounters {
    const now = this.clock.now();
    const sel: SelectedCounters = { in: [], out: [] };
    let open = { in: true, out: true };
    walkMatches(this.matchers, req, (i) => {
      const r = this.rules[i]!;
      for (const dir of ['in', 'out'] as const) {
        if (!open[dir] || !r.dirs[dir]) continue;
        if (r.exempt) open = { ...open, [dir]: false };
        else {
          r.counter.tick(now);
          sel[dir].push(r.counter);
        }
      }
      return open.in || open.out;
    });
    return sel;
  }

  /**
   * Reload: counters of `old` live on in this store instead of being re-read from the file.
   * Sessions still running on the old pipeline add to the same Counter objects, so their bytes
   * are in what this store saves (nothing is lost on reload), and quotas keep their totals.
   * Counters with an id are kept by id (limit, period and comment take the new values); id 0
   * counters only when their rule is unchanged. With another `file`, nothing is kept: the new
   * file is the truth.
   */
  adopt(old: CounterStore): void {
    if (old.file !== this.file) return;
    if (this.report !== null && old.report !== null && old.report.every === this.report.every && old.report.file === this.report.file) {
      this.reportState = old.reportState;
      this.reportAdopted = true;
    }
    for (const [id, c] of this.byId) {
      const prev = old.byId.get(id);
      if (prev === undefined) continue;
      prev.comment = c.comment;
      prev.every = c.every;
      prev.limit = c.limit;
      this.byId.set(id, prev);
      this.adopted.add(id);
      for (const r of this.rules) if (r.counter === c) r.counter = prev;
    }
    const used = new Set<number>();
    for (const r of this.rules) {
      if (r.counter.id !== 0) continue;
      const j = old.rules.findIndex((o, n) => o.counter.id === 0 && o.key === r.key && !used.has(n));
      if (j < 0) continue;
      used.add(j);
      r.counter = old.rules[j]!.counter;
    }
  }

  /** Reads the file; a missing file is an empty store. Unknown ids are ignored. */
  load(): void {
    if (this.file === null) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const data = JSON.parse(text) as { version?: number; counters?: Record<string, SavedCounter>; report?: SavedReport };
    const report = this.report !== null && !this.reportAdopted && data.report?.every === this.report.every ? data.report : undefined;
    if (report !== undefined && typeof report.since === 'number') this.reportState.since = report.since;
    for (const [id, saved] of Object.entries(data.counters ?? {})) {
      const c = this.byId.get(Number(id));
      if (c === undefined || this.adopted.has(c.id) || typeof saved.bytes !== 'number') continue;
      c.bytes = saved.bytes;
      c.resetAt = saved.resetAt;
      c.updatedAt = saved.updatedAt;
      if (report !== undefined) c.reportBytes = report.bytes[id] ?? 0;
    }
    const now = this.clock.now();
    for (const c of this.byId.values()) c.tick(now);
  }

  /**
   * Writes the report of the period that has ended, if it has (3proxy's main loop does this
   * once a minute): the values are each counter's bytes of that period, which then start over.
   * Returns the file written, or null.
   */
  writeReportIfDue(): string | null {
    const r = this.report;
    if (r === null) return null;
    const now = this.clock.now();
    const state = this.reportState;
    if (periodKey(r.every, state.since) === periodKey(r.every, now)) return null;
    const name = rotatedName(r.file, r.every as Exclude<Every, 'never'>, new Date(state.since));
    const ids = [...this.byId.keys()].sort((a, b) => a - b);
    let text = '';
    for (const id of ids) {
      const c = this.byId.get(id)!;
      text += `${String(id).padStart(5, '0')} ${String(c.reportBytes).padStart(20, '0')} #${c.comment}\n`;
    }
    writeAtomically(name, text);
    for (const c of this.byId.values()) c.reportBytes = 0;
    state.since = now;
    this.reportsWritten.push(name);
    return name;
  }

  /** One round of the save schedule: report an ended period, reset counters, save. */
  periodic(): void {
    this.writeReportIfDue();
    const now = this.clock.now();
    for (const c of this.byId.values()) c.tick(now);
    this.save();
  }

  /** Writes the file atomically (temp file, fsync, rename). */
  save(): void {
    if (this.file === null) return;
    const counters: Record<string, SavedCounter> = {};
    for (const [id, c] of this.byId) counters[String(id)] = { bytes: c.bytes, resetAt: c.resetAt, updatedAt: c.updatedAt };
    const data: { version: 1; counters: Record<string, SavedCounter>; report?: SavedReport } = { version: 1, counters };
    if (this.report !== null) {
      const bytes: Record<string, number> = {};
      for (const [id, c] of this.byId) bytes[String(id)] = c.reportBytes;
      data.report = { every: this.report.every, since: this.reportState.since, bytes };
    }
    writeAtomically(this.file, JSON.stringify(data, null, 1) + '\n');
  }

  /** Saves (and reports) every `intervalMs` (timer unref'd: it never keeps the process alive). */
  start(intervalMs: number, onError: (err: unknown) => void): void {
    if ((this.file === null && this.report === null) || this.timer !== null || intervalMs <= 0) return;
    try {
      // A period that ended while the process was down is reported now.
      this.writeReportIfDue();
    } catch (err) {
      onError(err);
    }
    this.timer = setInterval(() => {
      try {
        this.periodic();
      } catch (err) {
        onError(err);
      }
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the schedule, reports an ended period and writes a last time. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.writeReportIfDue();
    this.save();
  }
}
