/**
 * Bandwidth rules (3proxy bandlimin/bandlimout/nobandlimin/nobandlimout). Each rule owns one
 * token bucket shared by every session it selects ("one rule for a /30 is one channel"),
 * or, with `perUser`, one bucket per user name (beyond 3proxy).
 *
 * Selection at session start: per direction, every matching rule in order (at most 10, as
 * 3proxy's MAXBANDLIMS) until an exempt rule matches.
 */
import { compileMatch, walkMatches, type AclRequest, type MatchSpec, type Matcher } from '../acl';
import { parseRate } from '../../config/units';
import { proxyError } from '../errors';
import type { Clock } from '../env';
import { TokenBucket } from './token-bucket';

export type Direction = 'in' | 'out';

/** One `bandwidth:` entry as validated by the schema. */
export interface BandwidthRuleSpec {
  readonly direction: Direction;
  readonly rate?: number | string;
  readonly exempt?: boolean;
  readonly perUser?: boolean;
  readonly match?: MatchSpec;
}

/** 3proxy's MAXBANDLIMS. */
export const MAX_BUCKETS_PER_DIRECTION = 10;
/** 3proxy refuses rates under 300 bits/s. */
const MIN_RATE = 300;

class BandwidthRule {
  private readonly shared: TokenBucket | null;
  private readonly perUser: Map<string, TokenBucket> | null;

  constructor(
    readonly exempt: boolean,
    private readonly rate: number,
    perUser: boolean,
    private readonly clock: Clock,
  ) {
    this.shared = exempt || perUser ? null : new TokenBucket(rate, clock);
    this.perUser = !exempt && perUser ? new Map() : null;
  }

  bucket(user: string | null): TokenBucket {
    if (this.shared !== null) return this.shared;
    const key = user ?? '-';
    let b = this.perUser!.get(key);
    if (b === undefined) {
      b = new TokenBucket(this.rate, this.clock);
      this.perUser!.set(key, b);
    }
    return b;
  }
}

/** The buckets a session is throttled by, per direction. */
export interface SelectedBuckets {
  readonly in: TokenBucket[];
  readonly out: TokenBucket[];
}

export class BandwidthLimiter {
  private readonly rules: Record<Direction, BandwidthRule[]> = { in: [], out: [] };
  private readonly matchers: Record<Direction, Matcher[]> = { in: [], out: [] };
  /** Each rule's spec as text: a reload keeps the bucket of a rule whose text is unchanged. */
  private readonly keys: Record<Direction, string[]> = { in: [], out: [] };

  constructor(specs: readonly BandwidthRuleSpec[], clock: Clock, pointer = '/bandwidth') {
    specs.forEach((s, i) => {
      const where = `${pointer}/${i}`;
      const exempt = s.exempt === true;
      const rate = s.rate === undefined ? 0 : parseRate(s.rate);
      if (!exempt && rate < MIN_RATE) throw proxyError('PRX_ERR_CONFIG_VALUE', `${where}/rate`, `a bandwidth rule needs a rate of at least ${MIN_RATE} bits/s`);
      this.rules[s.direction].push(new BandwidthRule(exempt, rate, s.perUser === true, clock));
      this.matchers[s.direction].push(compileMatch(s.match ?? {}, `${where}/match`));
      this.keys[s.direction].push(JSON.stringify([exempt, rate, s.perUser === true, s.match ?? {}]));
    });
  }

  /**
   * Reload: every rule identical to one of `old`'s takes over its bucket(s), so sessions that
   * started before the reload and those after share one channel, and a bucket in debt stays in
   * debt (a reload must not hand out a fresh burst).
   */
  adopt(old: BandwidthLimiter): void {
    for (const dir of ['in', 'out'] as const) {
      const used = new Set<number>();
      this.keys[dir].forEach((key, i) => {
        const j = old.keys[dir].findIndex((k, n) => k === key && !used.has(n));
        if (j < 0) return;
        used.add(j);
        this.rules[dir][i] = old.rules[dir][j]!;
      });
    }
  }

  get empty(): boolean {
    return this.rules.in.length === 0 && this.rules.out.length === 0;
  }

  /** The buckets for a request: every match in order until an exempt rule, at most 10. */
  select(req: AclRequest): SelectedBuckets {
    return { in: this.walk('in', req), out: this.walk('out', req) };
  }

  private walk(dir: Direction, req: AclRequest): TokenBucket[] {
    const found: TokenBucket[] = [];
    const rules = this.rules[dir];
    walkMatches(this.matchers[dir], req, (i) => {
      const rule = rules[i]!;
      if (rule.exempt) return false;
      found.push(rule.bucket(req.user));
      return found.length < MAX_BUCKETS_PER_DIRECTION;
    });
    return found;
  }
}
