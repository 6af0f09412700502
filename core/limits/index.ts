/**
 * Limits and accounting, shared by every service of a runtime (3proxy keeps them global):
 * bandwidth buckets, connection limits and traffic counters, built from the root sections
 * `bandwidth`, `connectionLimits` and `counters`.
 *
 *   limits operator:  Limits.forRequest(req) -> SessionLimits (or a code-10 refusal)
 *   mapSockets:       session.limits.needsChunkPath ? throttled relay : pipe() fast path
 *   session end:      SessionLimits.end(session): connlim release, counters for the fast path
 */
import { resolve, dirname } from 'node:path';
import { proxyError } from '../errors';
import type { Clock } from '../env';
import type { AclRequest } from '../acl';
import { parseDuration } from '../../config/units';
import { BandwidthLimiter, type BandwidthRuleSpec } from './bandwidth';
import { ConnectionLimiter, NO_RELEASE, type ConnectionLimitSpec } from './connlim';
import { CounterStore, type Counter, type CounterRuleSpec } from './counters';
import type { Every } from './periods';
import { ConnectionSlots } from './slots';

export { TokenBucket } from './token-bucket';
export { BandwidthLimiter, MAX_BUCKETS_PER_DIRECTION } from './bandwidth';
export type { BandwidthRuleSpec, Direction, SelectedBuckets } from './bandwidth';
export { ConnectionLimiter } from './connlim';
export type { ConnectionLimitSpec } from './connlim';
export { Counter, CounterStore } from './counters';
export type { CounterRuleSpec, CounterReportSpec, SelectedCounters } from './counters';
export { periodKey, periodChanged } from './periods';
export { ConnectionSlots, GLOBAL_SLOTS_SYMBOL } from './slots';
export type { Every } from './periods';

/** Key of the shared `Limits` in `env.symbols`. */
export const LIMITS_SYMBOL = 'limits';

/** The root `counters:` section. */
export interface CountersSection {
  readonly file?: string;
  readonly saveInterval?: string | number;
  readonly report?: { readonly every: Every; readonly file: string };
  readonly rules?: readonly CounterRuleSpec[];
}

/** What one session is limited by; `session.limits` (null when nothing applies). */
export class SessionLimits {
  /** True once the throttled relay has added the bytes to the counters itself. */
  countedLive = false;
  private ended = false;

  constructor(
    readonly bucketsIn: readonly Pacer[],
    readonly bucketsOut: readonly Pacer[],
    readonly countersIn: readonly Counter[],
    readonly countersOut: readonly Counter[],
    private readonly release: () => void,
    private readonly clock: Clock,
  ) {}

  /** Throttled or quota-limited sessions need per-chunk work; the rest keep pipe(). */
  get needsChunkPath(): boolean {
    return this.bucketsIn.length > 0 || this.bucketsOut.length > 0 || hasLimit(this.countersIn) || hasLimit(this.countersOut);
  }

  /** Bytes this direction may still carry before a quota is reached (Infinity: no quota). */
  room(dir: 'in' | 'out'): number {
    let room = Infinity;
    for (const c of dir === 'in' ? this.countersIn : this.countersOut) room = Math.min(room, c.limit - c.bytes);
    return Math.max(0, room);
  }

  /** Adds bytes carried in one direction to its counters. */
  account(dir: 'in' | 'out', bytes: number): void {
    if (bytes <= 0) return;
    const now = this.clock.now();
    for (const c of dir === 'in' ? this.countersIn : this.countersOut) c.add(bytes, now);
  }

  /** The same limits plus more pacers (plugin bandwidth hooks); it takes over this one's slot release. */
  withPacers(extraIn: readonly Pacer[], extraOut: readonly Pacer[]): SessionLimits {
    return new SessionLimits([...this.bucketsIn, ...extraIn], [...this.bucketsOut, ...extraOut], this.countersIn, this.countersOut, this.release, this.clock);
  }

  /** Session end: frees the connection slot; counts the fast path's totals. Idempotent. */
  end(bytesIn: number, bytesOut: number): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    if (!this.countedLive) {
      this.account('in', bytesIn);
      this.account('out', bytesOut);
    }
  }
}

/** A bucket-like pacer: bytes carried -> delay in ms (TokenBucket, a plugin bandwidth hook). */
export interface Pacer {
  take(bytes: number): number;
}

function hasLimit(cs: readonly Counter[]): boolean {
  return cs.some((c) => c.limit !== Infinity);
}

export class Limits {
  readonly bandwidth: BandwidthLimiter;
  readonly connections: ConnectionLimiter;
  readonly counters: CounterStore;
  /** Root `maxconn` across services (Infinity when unset); in env.symbols as GLOBAL_SLOTS_SYMBOL. */
  readonly slots: ConnectionSlots;
  private readonly saveMs: number;

  /** `configFile` anchors a relative `counters.file`. */
  constructor(config: Readonly<Record<string, unknown>>, configFile: string, private readonly clock: Clock) {
    const counters = (config['counters'] ?? {}) as CountersSection;
    this.bandwidth = new BandwidthLimiter((config['bandwidth'] ?? []) as BandwidthRuleSpec[], clock);
    this.connections = new ConnectionLimiter((config['connectionLimits'] ?? []) as ConnectionLimitSpec[], clock);
    const file = counters.file === undefined ? null : resolve(dirname(configFile), counters.file);
    const report = counters.report === undefined ? null : { every: counters.report.every, file: resolve(dirname(configFile), counters.report.file) };
    this.counters = new CounterStore(counters.rules ?? [], clock, file, '/counters/rules', report);
    this.saveMs = parseDuration(counters.saveInterval ?? '60s');
    this.slots = new ConnectionSlots((config['maxconn'] as number | undefined) ?? Infinity);
  }

  get empty(): boolean {
    return this.bandwidth.empty && this.connections.empty && this.counters.empty;
  }

  /**
   * Reload (before `start`): takes over the state of `old` for rules that did not change, so
   * buckets, connection slots and counters carry on, and sessions that outlive the reload
   * account into the counters this instance saves.
   */
  adopt(old: Limits): void {
    this.bandwidth.adopt(old.bandwidth);
    this.connections.adopt(old.connections);
    this.counters.adopt(old.counters);
    this.slots.adopt(old.slots);
  }

  /** Loads counters and starts their save schedule. */
  start(onError: (err: unknown) => void): void {
    this.counters.load();
    this.counters.start(this.saveMs, onError);
  }

  /** Saves counters (stop, reload). */
  stop(): void {
    this.counters.stop();
  }

  /**
   * connlim, then bandwidth selection, then the quota check (3proxy alwaysauth order).
   * Throws PRX_ERR_CONNLIM_EXCEEDED / PRX_ERR_QUOTA_EXCEEDED; null when nothing applies.
   */
  forRequest(req: AclRequest): SessionLimits | null {
    const release = this.connections.acquire(req);
    if (release === null) throw proxyError('PRX_ERR_CONNLIM_EXCEEDED', req.clientAddress);
    const buckets = this.bandwidth.select(req);
    const counters = this.counters.select(req);
    const full = counters.in.find((c) => c.exceeded) ?? counters.out.find((c) => c.exceeded);
    if (full !== undefined) {
      release();
      throw proxyError('PRX_ERR_QUOTA_EXCEEDED', full.id === 0 ? full.comment || 'counter' : `counter ${full.id}`);
    }
    const empty = buckets.in.length + buckets.out.length + counters.in.length + counters.out.length === 0;
    if (empty && release === NO_RELEASE) return null;
    return new SessionLimits(buckets.in, buckets.out, counters.in, counters.out, release, this.clock);
  }
}
