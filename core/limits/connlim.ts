/**
 * Connection limits (3proxy connlim/noconnlim): the first matching rule applies.
 *
 *   per 0  -> at most `rate` concurrent sessions per key (released when the session ends)
 *   per >0 -> at most `rate` new sessions per period: a score that decays linearly by `rate`
 *             per period and grows by one per accepted session (3proxy's scheme)
 *
 * The key is the whole rule (3proxy), or with `key: source|user` each client address or
 * user separately (beyond 3proxy).
 */
import { compileMatch, firstMatch, type AclRequest, type MatchSpec, type Matcher } from '../acl';
import { parseDuration } from '../../config/units';
import type { Clock } from '../env';

/** One `connectionLimits:` entry as validated by the schema. */
export interface ConnectionLimitSpec {
  readonly rate?: number;
  readonly per?: string | number;
  readonly key?: 'rule' | 'source' | 'user';
  readonly exempt?: boolean;
  readonly match?: MatchSpec;
}

interface Score {
  value: number;
  at: number;
}

class ConnectionRule {
  private readonly scores = new Map<string, Score>();

  constructor(
    readonly exempt: boolean,
    private readonly rate: number,
    private readonly perMs: number,
    private readonly key: 'rule' | 'source' | 'user',
    private readonly clock: Clock,
  ) {}

  /** Counts one session in; returns its release function, or null when over the limit. */
  acquire(req: AclRequest): (() => void) | null {
    const k = this.key === 'rule' ? '' : this.key === 'source' ? req.clientAddress : (req.user ?? '-');
    const now = this.clock.now();
    let s = this.scores.get(k);
    if (s === undefined) {
      s = { value: 0, at: now };
      this.scores.set(k, s);
    }
    if (this.perMs > 0) {
      s.value = Math.max(0, s.value - ((now - s.at) * this.rate) / this.perMs);
      s.at = now;
    }
    if (s.value + 1 > this.rate) return null;
    s.value += 1;
    if (this.perMs > 0) return NO_RELEASE;
    const score = s;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      score.value -= 1;
      if (score.value <= 0 && k !== '') this.scores.delete(k);
    };
  }
}

/** The release function of a session no concurrency rule counts (compare by identity). */
export const NO_RELEASE = (): void => {};

export class ConnectionLimiter {
  private readonly rules: ConnectionRule[] = [];
  private readonly matchers: Matcher[] = [];
  /** Each rule's spec as text: a reload keeps the scores of a rule whose text is unchanged. */
  private readonly keys: string[] = [];

  constructor(specs: readonly ConnectionLimitSpec[], clock: Clock, pointer = '/connectionLimits') {
    specs.forEach((s, i) => {
      const per = s.per === undefined ? 0 : parseDuration(s.per);
      this.rules.push(new ConnectionRule(s.exempt === true, s.rate ?? 1, per, s.key ?? 'rule', clock));
      this.matchers.push(compileMatch(s.match ?? {}, `${pointer}/${i}/match`));
      this.keys.push(JSON.stringify([s.exempt === true, s.rate ?? 1, per, s.key ?? 'rule', s.match ?? {}]));
    });
  }

  /**
   * Reload: every rule identical to one of `old`'s takes over its scores. Sessions still open
   * from before the reload keep their slots (their release functions point at those scores),
   * and a per-period rule does not start a fresh period.
   */
  adopt(old: ConnectionLimiter): void {
    const used = new Set<number>();
    this.keys.forEach((key, i) => {
      const j = old.keys.findIndex((k, n) => k === key && !used.has(n));
      if (j < 0) return;
      used.add(j);
      this.rules[i] = old.rules[j]!;
    });
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Checks the first matching rule: returns a release function (call it when the session
   * ends; a no-op for rate rules), or null when the request is over the limit.
   */
  acquire(req: AclRequest): (() => void) | null {
    const i = firstMatch(this.matchers, req);
    const rule = i < 0 ? undefined : this.rules[i];
    if (rule === undefined || rule.exempt) return NO_RELEASE;
    return rule.acquire(req);
  }
}
