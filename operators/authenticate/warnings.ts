/**
 * `validate` warnings for auth and ACL configs that run fine but probably do not do what
 * their author meant (3proxy semantics are kept; the warning says why it surprises).
 *
 *   PRXWRN001  `none` in auth with a non-empty acl: the ACL never runs for `none`
 *   PRXWRN002  cache/cacheacl after strong (or radius) without `password` in authCache.keys:
 *              once strong failed, a recently seen user name alone lets the client in
 *   PRXWRN003  an HTTP-facing service whose acl does not end in an explicit `deny: {}`:
 *              unmatched requests get 407 (3proxy code 3), not 403
 */
import { WARNINGS, type WarningCode } from '../../core/errors';
import type { AclRuleSpec } from '../../core/acl';

export interface ConfigWarning {
  /** JSON pointer into the config. */
  readonly pointer: string;
  readonly code: WarningCode;
  readonly message: string;
}

interface ServiceLike {
  name?: string;
  type?: string;
  auth?: string[];
  acl?: AclRuleSpec[];
}

/** Methods that check a password, after which a cache without `password` is a bypass. */
const PASSWORD_METHODS: ReadonlySet<string> = new Set(['strong', 'radius']);
const CACHE_METHODS: ReadonlySet<string> = new Set(['cache', 'cacheacl']);
/** Types whose "no rule matched" becomes HTTP 407 (a custom pipeline may be HTTP too). */
const HTTP_TYPES: ReadonlySet<string | undefined> = new Set(['proxy', 'auto', undefined]);
/** The authenticate operator's default chain. */
const DEFAULT_AUTH = ['iponly'];

function warn(pointer: string, code: WarningCode, detail?: string): ConfigWarning {
  return { pointer, code, message: detail === undefined ? WARNINGS[code] : `${WARNINGS[code]} (${detail})` };
}

function isAny(list: readonly unknown[] | undefined): boolean {
  return list === undefined || list.length === 0 || list.every((v) => String(v).trim() === '*');
}

/** `deny` with no restricting field: 3proxy's recommended `deny *`. */
function isDenyAll(rule: AclRuleSpec | undefined): boolean {
  const m = rule?.deny;
  if (m === undefined || (rule?.weight ?? 0) !== 0) return false;
  return [m.users, m.sources, m.targets, m.ports, m.operations, m.weekdays, m.times].every((f) => isAny(f));
}

function cacheAfterPassword(auth: readonly string[]): string | null {
  const first = auth.findIndex((m) => PASSWORD_METHODS.has(m));
  if (first < 0) return null;
  const late = auth.slice(first + 1).find((m) => CACHE_METHODS.has(m));
  return late === undefined ? null : `${late} after ${auth[first] ?? ''}`;
}

function serviceWarnings(s: ServiceLike, i: number, cacheKeys: readonly string[]): ConfigWarning[] {
  const base = `/services/${i}`;
  const auth = s.auth ?? DEFAULT_AUTH;
  const acl = s.acl ?? [];
  const out: ConfigWarning[] = [];
  if (auth.includes('none') && acl.length > 0) out.push(warn(`${base}/auth`, 'PRXWRN001', `service "${s.name ?? i}"`));
  const late = cacheAfterPassword(auth);
  if (late !== null && !cacheKeys.includes('password')) {
    out.push(warn(`${base}/auth`, 'PRXWRN002', `service "${s.name ?? i}": ${late}; write the cache first, or key it by password`));
  }
  if (acl.length > 0 && HTTP_TYPES.has(s.type) && !isDenyAll(acl[acl.length - 1])) {
    out.push(warn(`${base}/acl/${acl.length - 1}`, 'PRXWRN003', `service "${s.name ?? i}": add "- deny: {}"`));
  }
  return out;
}

/** Auth/ACL warnings for a validated root config; `validate` prints them. */
export function configWarnings(config: Readonly<Record<string, unknown>>): ConfigWarning[] {
  const cache = config['authCache'] as { keys?: string[] } | undefined;
  // 3proxy's default authcache key is user,pass.
  const keys = cache?.keys ?? ['user', 'password'];
  const services = (config['services'] ?? []) as ServiceLike[];
  return services.flatMap((s, i) => serviceWarnings(s, i, keys));
}
