/**
 * `compileAcl`: a service's `acl:` list compiled once; `evaluate` is 3proxy's checkACL walk.
 *
 *   empty list                      -> allow, code 0, index -1
 *   walk in order, first match wins:
 *     allow (no parents)            -> 'allow',    code 0
 *     deny                          -> 'deny',     code 1
 *     allow with parents, redirect  -> 'redirect', code 0: route through `rule.parents`
 *                                      (the caller connects; a failure there is its code)
 *       ...skipped, walk continues, for BIND and ICMPASSOC requests, and with
 *       `skipLocalRedirect` when the first parent is a local redirect (0.0.0.0 port 0)
 *   nothing matched                 -> 'none',     code 3 (implicit deny; HTTP turns it into 407)
 *
 * Weight (3proxy `weight N` / ACE field 8): the walk carries a request weight, starting at
 * `options.weight` (default 0, as a fresh 3proxy request). A rule with a non-zero weight
 * matches only if its weight >= the request weight. Every match, including a parent rule
 * skipped for BIND, sets the request weight to the rule's weight (0 for none) and the
 * request's nolog to the rule's; the decision returns both, so a second walk (local redirect,
 * keep-alive) can pass `weight` on as 3proxy's clientparam does.
 */
import { proxyError } from '../errors';
import type { ProxyError } from '../errors';
import { compileFields, fieldsMatch } from './fields';
import type { MatchFields } from './fields';
import { compileMatchFromFields, namesUsers } from './match';
import type { AclRequest, MatchSpec, Matcher } from './match';
import { PreparedRequest } from './prepared';

/** `redirect: { host, port, match }`: 3proxy's `redirect HOST PORT ...`, an http-type hop. */
export interface RedirectSpec {
  readonly host: string;
  readonly port: number;
  readonly match?: MatchSpec;
}

/** One `acl:` entry: exactly one of allow / deny / redirect. */
export interface AclRuleSpec {
  readonly allow?: MatchSpec;
  readonly deny?: MatchSpec;
  readonly redirect?: RedirectSpec;
  /** Parent hops, opaque here (the connect step interprets them). Not allowed on deny. */
  readonly parents?: readonly unknown[];
  readonly nolog?: boolean;
  /** Intercept (true) or tunnel (false) a CONNECT this rule admits, in a service with `mitm:`. */
  readonly mitm?: boolean;
  /** 3proxy `weight`; 0 or absent = none. */
  readonly weight?: number;
  /** Egress pool for requests this rule allows, opaque here (core/net/egress.ts). */
  readonly egress?: unknown;
}

export type RuleKind = 'allow' | 'deny' | 'redirect';

export interface CompiledRule {
  /** Position in the original list. */
  readonly index: number;
  /** The keyword as written. */
  readonly kind: RuleKind;
  /** What a match means: 'redirect' for allow-with-parents and redirect entries. */
  readonly action: RuleKind;
  /** Hops in order; a redirect entry's own host/port comes first as `{ weight: 1000, type: 'http', host, port }`. */
  readonly parents: readonly unknown[];
  readonly nolog: boolean;
  readonly weight: number;
  /** First parent is `0.0.0.0` port 0 (hand the request to another protocol handler). */
  readonly localRedirect: boolean;
  /** The entry restricts `users:`. */
  readonly namesUsers: boolean;
  /** The entry's match fields as a predicate (the walk itself calls fieldsMatch on `fields`). */
  readonly matches: Matcher;
  readonly fields: MatchFields;
  readonly spec: AclRuleSpec;
}

export interface AclDecision {
  readonly action: 'allow' | 'deny' | 'redirect' | 'none';
  /** Index of the deciding rule; -1 for an empty ACL or no match. */
  readonly index: number;
  readonly rule: CompiledRule | null;
  /** 3proxy result code: 0 allow/redirect, 1 deny, 3 nothing matched. */
  readonly code: number;
  /** Request nolog and weight after the walk (from the last matched rule). */
  readonly nolog: boolean;
  readonly weight: number;
}

export interface AclEvaluateOptions {
  /** Second pass after a local redirect: skip entries whose first parent is `0.0.0.0` port 0. */
  readonly skipLocalRedirect?: boolean;
  /** Request weight carried from an earlier walk (default 0). */
  readonly weight?: number;
}

export interface Acl {
  readonly rules: readonly CompiledRule[];
  /** Some rule restricts `users:` (`iponly` then falls through to the next auth method on 1 or 3). */
  readonly namesUsers: boolean;
  evaluate(req: AclRequest, options?: AclEvaluateOptions): AclDecision;
}

const bad = (what: string, why: string): ProxyError => proxyError('PRX_ERR_CONFIG_VALUE', what, why);

function isLocalRedirect(parent: unknown): boolean {
  if (typeof parent !== 'object' || parent === null) return false;
  const p = parent as { host?: unknown; port?: unknown };
  return (p.host === '0.0.0.0' || p.host === '::') && Number(p.port) === 0;
}

function ruleKind(spec: AclRuleSpec, where: string): RuleKind {
  const kinds = (['allow', 'deny', 'redirect'] as const).filter((k) => spec[k] !== undefined);
  if (kinds.length !== 1 || kinds[0] === undefined) {
    throw bad(where || '/', 'an ACL entry needs exactly one of allow, deny or redirect');
  }
  return kinds[0];
}

function redirectParent(r: RedirectSpec, where: string): unknown {
  const port = Number(r.port);
  if (typeof r.host !== 'string' || r.host === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad(`${where}/redirect`, 'redirect needs a host and a port 0-65535');
  }
  return Object.freeze({ weight: 1000, type: 'http', host: r.host, port });
}

function compileRule(spec: AclRuleSpec, index: number, base: string): CompiledRule {
  const where = `${base}/${index}`;
  const kind = ruleKind(spec, where);
  const match = (kind === 'redirect' ? spec.redirect?.match : spec[kind]) ?? {};
  const given = spec.parents ?? [];
  if (kind === 'deny' && given.length > 0) {
    throw bad(`${where}/parents`, 'Chaining error: parents need an "allow" or "redirect" entry');
  }
  const parents = kind === 'redirect' && spec.redirect ? [redirectParent(spec.redirect, where), ...given] : [...given];
  const weight = spec.weight ?? 0;
  if (!Number.isInteger(weight) || weight < 0) throw bad(`${where}/weight "${weight}"`, 'weight must be a non-negative integer');
  const fields = compileFields(match, `${where}/${kind === 'redirect' ? 'redirect/match' : kind}`);
  return Object.freeze({
    index,
    kind,
    action: parents.length > 0 ? 'redirect' : kind,
    parents: Object.freeze(parents),
    nolog: spec.nolog === true,
    weight,
    localRedirect: isLocalRedirect(parents[0]),
    namesUsers: namesUsers(match),
    matches: compileMatchFromFields(fields),
    fields,
    spec,
  });
}

const CODE: Readonly<Record<RuleKind, number>> = { allow: 0, deny: 1, redirect: 0 };

/** Parent entries are skipped for these, as in checkACL (operations below 256 other than CONNECT/UDPASSOC). */
const NO_PARENT_OPS: ReadonlySet<string> = new Set(['BIND', 'ICMPASSOC']);

/**
 * Compiles an `acl:` list. `pointer` (for example `/services/0/acl`) prefixes the location in
 * PRX_ERR_CONFIG_VALUE errors, which name the offending token.
 */
export function compileAcl(specs: readonly AclRuleSpec[], pointer = ''): Acl {
  // The walk iterates a plain array: V8 iterates frozen arrays about four times slower.
  const walk: CompiledRule[] = specs.map((s, i) => compileRule(s, i, pointer));
  // A rule that decides a walk leaves its own nolog/weight on the request, so its decision
  // can be built once here instead of per request.
  const decisions: AclDecision[] = walk.map((rule) =>
    Object.freeze({ action: rule.action, index: rule.index, rule, code: CODE[rule.action], nolog: rule.nolog, weight: rule.weight }),
  );
  const allowAll: AclDecision = Object.freeze({ action: 'allow', index: -1, rule: null, code: 0, nolog: false, weight: 0 });
  const prepared = new PreparedRequest();
  const evaluate = (req: AclRequest, options?: AclEvaluateOptions): AclDecision => {
    let weight = options?.weight ?? 0;
    if (walk.length === 0) return weight === 0 ? allowAll : { ...allowAll, weight };
    const p = prepared.reset(req);
    const noParents = NO_PARENT_OPS.has(req.operation);
    const skipLocal = options?.skipLocalRedirect === true;
    let nolog = false;
    for (let i = 0; i < walk.length; i++) {
      const rule = walk[i] as CompiledRule;
      if (rule.weight !== 0 && rule.weight < weight) continue;
      if (!fieldsMatch(rule.fields, p)) continue;
      nolog = rule.nolog;
      weight = rule.weight;
      if (rule.action === 'redirect' && (noParents || (skipLocal && rule.localRedirect))) continue;
      return decisions[i] as AclDecision;
    }
    return { action: 'none', index: -1, rule: null, code: 3, nolog, weight };
  };
  return Object.freeze({ rules: Object.freeze(walk.slice()), namesUsers: walk.some((r) => r.namesUsers), evaluate });
}

/** Whether the ACL names users anywhere (`iponly` walks with the user hidden; see Acl.namesUsers). */
export function needsUser(acl: Acl): boolean {
  return acl.namesUsers;
}
