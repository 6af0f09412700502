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

  constructor(specs: readonly ConnectionLimitSpec[], clock: Clock, pointer = '/connectionLimits') {
    specs.forEach((s, i) => {
      this.rules.push(new ConnectionRule(s.exempt === true, s.rate ?? 1, s.per === undefined ? 0 : parseDuration(s.per), s.key ?? 'rule', clock));
      this.matchers.push(compileMatch(s.match ?? {}, `${pointer}/${i}/match`));
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
