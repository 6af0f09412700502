/**
 * `compileMatch`: one ACL entry's fields (3proxy's ACE: users, sources, targets, ports,
 * operations, weekdays, times) compiled once, at config load, into a predicate.
 *
 * A field that is omitted, or whose list contains `*`, matches anything. An entry matches
 * when every other field does (3proxy ACLmatches). The compiled form and its test live in
 * fields.ts; the per-request values they compare with in prepared.ts.
 *
 * The same predicate serves the bandwidth, counter and connlim lists (`walkMatches`).
 */
import { compileFields, fieldsMatch } from './fields';
import type { MatchFields } from './fields';
import { PreparedRequest } from './prepared';
import type { Operation } from '../session';

/** A rule's match fields as written in YAML; every list is optional. */
export interface MatchSpec {
  /** Exact, case-sensitive names; `prefix*`, `*suffix`, `*mid*` too. `-` = request without a user. */
  readonly users?: readonly (string | number)[];
  /** Client addresses: `IP`, `IP/len`, `IPa-IPb`, IPv4 or IPv6. */
  readonly sources?: readonly (string | number)[];
  /** Address forms as in `sources`, or host patterns `name`, `*suffix`, `prefix*`, `*sub*`. */
  readonly targets?: readonly (string | number)[];
  /** Ports `80` or ranges `"8000-8100"`. */
  readonly ports?: readonly (string | number)[];
  /** Operation names, plus the unions `HTTP`, `HTTPS` and `FTP`. */
  readonly operations?: readonly string[];
  /** 0-7 (0 and 7 are Sunday) or `"1-5"`. */
  readonly weekdays?: readonly (string | number)[];
  /** `HH:MM:SS-HH:MM:SS`, local time, half-open. */
  readonly times?: readonly string[];
}

/** What a rule is matched against. Built per request by the caller (authorize, limiters). */
export interface AclRequest {
  /** Authenticated user; null matches as the literal `-`. */
  user: string | null;
  clientAddress: string;
  /** Requested host name, or the address text when the client gave an address ('' if none). */
  targetHost: string;
  /** Requested (or resolved) address; null when not known. */
  targetAddress: string | null;
  /** Requested port; 0 skips the `ports` check (except for BIND, as in 3proxy). */
  port: number;
  operation: Operation;
  /** Request start time; weekdays and times use its local-time fields. */
  now: Date;
}

export type Matcher = (req: AclRequest) => boolean;

/** Reused by every single-rule Matcher call (see prepared.ts on why sharing is safe). */
const scratch = new PreparedRequest();

/**
 * Compiles a rule's match fields into a predicate. `where` (a JSON pointer such as
 * `/services/0/acl/3/allow`) prefixes the token named by a PRX_ERR_CONFIG_VALUE error.
 */
export function compileMatch(m: MatchSpec, where = ''): Matcher {
  return compileMatchFromFields(compileFields(m, where));
}

/** The predicate over already compiled fields. */
export function compileMatchFromFields(fields: MatchFields): Matcher {
  return (req) => fieldsMatch(fields, scratch.reset(req));
}

/** True when the spec restricts `users:` (so a request without a user may fail it). */
export function namesUsers(m: MatchSpec): boolean {
  return m.users !== undefined && m.users.length > 0 && !m.users.some((u) => String(u).trim() === '*');
}

/**
 * Visits, in order, the index of every matcher that matches `req`; `visit` returns `false`
 * to stop (3proxy stops bandlim/connlim walks at the first `no*` entry). For the limit lists.
 */
export function walkMatches(matchers: readonly Matcher[], req: AclRequest, visit: (index: number) => boolean | void): void {
  for (let i = 0; i < matchers.length; i++) {
    if (matchers[i]?.(req) === true && visit(i) === false) return;
  }
}

/** Index of the first matcher that matches `req`, or -1. */
export function firstMatch(matchers: readonly Matcher[], req: AclRequest): number {
  for (let i = 0; i < matchers.length; i++) if (matchers[i]?.(req) === true) return i;
  return -1;
}

/** True when any matcher matches `req`. */
export function matchesAny(matchers: readonly Matcher[], req: AclRequest): boolean {
  return firstMatch(matchers, req) >= 0;
}
