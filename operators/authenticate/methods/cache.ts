/**
 * `cache` and `cacheacl` (3proxy `auth cache` with `authcache`), and the store that feeds them.
 *
 *   cache     hit -> the cached user is restored (and the external address with `ext`), then
 *             the ACL is walked with that user
 *   cacheacl  hit -> allowed without an ACL walk, so parents are not applied on hits
 *   miss      -> 4 (falls through to the next method); `limit` and another IP -> 10 (stops)
 *
 * Entries are stored by the chain (see `cacheStore`) after any other method succeeded and
 * its ACL decision allows, with a user (and a password when `password` is keyed).
 */
import { proxyError } from '../../../core/errors';
import type { Session } from '../../../core/session';
import type { Acl, AclDecision } from '../../../core/acl';
import type { Env } from '../../../core/env';
import { parseDuration } from '../../../config/units';
import { sharedAuthCache, type AuthCache, type AuthCacheKey, type AuthCacheRequest, type AuthCacheSettings } from '../../../core/auth';
import type { MethodContext, MethodFactory } from '../types';

/** Methods whose success is never stored (3proxy: cacheauth itself and `none`). */
export const CACHE_METHODS: ReadonlySet<string> = new Set(['cache', 'cacheacl']);

const ALLOW_WITHOUT_ACL: AclDecision = Object.freeze({ action: 'allow', index: -1, rule: null, code: 0, nolog: false, weight: 0 });

const aclIds = new WeakMap<Acl, string>();
let nextAclId = 0;

/** 3proxy's `acl` key compares ACL identity: the same compiled ACL object, the same id. */
export function aclIdentity(acl: Acl): string {
  let id = aclIds.get(acl);
  if (id === undefined) {
    id = `acl${++nextAclId}`;
    aclIds.set(acl, id);
  }
  return id;
}

/** The cache's view of a session. */
export function cacheRequest(s: Session, aclId: string): AuthCacheRequest {
  const r = s.request;
  return {
    user: s.user,
    password: s.password,
    clientAddress: s.connection.clientAddress,
    acl: aclId,
    dstaddr: r.address,
    dstport: r.port,
    dsthost: r.host.toLowerCase(),
    dstoper: r.operation,
    srvaddr: s.connection.localAddress,
    srvport: s.connection.localPort,
  };
}

interface AuthCacheConfig {
  keys?: AuthCacheKey[];
  ttl?: string | number;
  size?: number;
}

/** `authCache:` as cache settings (3proxy defaults for what is missing). */
export function authCacheSettings(config: Readonly<Record<string, unknown>>): Partial<AuthCacheSettings> {
  const c = (config['authCache'] ?? {}) as AuthCacheConfig;
  const out: { -readonly [K in keyof AuthCacheSettings]?: AuthCacheSettings[K] } = {};
  if (c.keys !== undefined) out.keys = c.keys;
  if (c.ttl !== undefined) out.ttlMs = parseDuration(c.ttl);
  if (c.size !== undefined) out.size = c.size;
  return out;
}

/** The shared cache, configured from this env's `authCache:` (create time). */
export function envAuthCache(env: Env): AuthCache {
  const cache = sharedAuthCache(env.clock, env.symbols);
  cache.configure(authCacheSettings(env.config), env.clock);
  return cache;
}

function cacheMethod(name: 'cache' | 'cacheacl', ctx: MethodContext): ReturnType<MethodFactory> {
  const cache = envAuthCache(ctx.env);
  const aclId = aclIdentity(ctx.acl);
  return {
    name,
    authenticate(s) {
      const found = cache.lookup(cacheRequest(s, aclId));
      if (found.kind === 'miss') return proxyError('PRX_ERR_AUTH_REQUIRED');
      const { entry } = found;
      if (found.kind === 'limit') {
        return proxyError('PRX_ERR_LIMIT_EXCEEDED', `user "${entry.user}" is bound to ${entry.clientAddress} by the auth cache`);
      }
      s.user = entry.user;
      if (entry.externalAddress !== null) s.externalAddress = entry.externalAddress;
      return null;
    },
    authorize: (s) => (name === 'cache' ? ctx.walk(s) : ALLOW_WITHOUT_ACL),
  };
}

export const cache: MethodFactory = (ctx) => cacheMethod('cache', ctx);
export const cacheacl: MethodFactory = (ctx) => cacheMethod('cacheacl', ctx);

/** Whether any service of this config uses the cache (else nothing is stored). */
function cacheInUse(config: Readonly<Record<string, unknown>>): boolean {
  if (config['authCache'] !== undefined) return true;
  const services = (config['services'] ?? []) as { auth?: string[] }[];
  return services.some((s) => (s.auth ?? []).some((m) => CACHE_METHODS.has(m)));
}

export type CacheStore = (session: Session, method: string, decision: AclDecision | null) => void;

/**
 * The chain's store step, or null when no service uses the cache. 3proxy stores after the
 * authorize step succeeded; here that is a decision that will not refuse (allow, redirect,
 * or none for `auth none`, which 3proxy never stores as it has no authenticate function).
 */
export function cacheStore(ctx: MethodContext): CacheStore | null {
  if (!cacheInUse(ctx.env.config)) return null;
  const store = envAuthCache(ctx.env);
  const aclId = aclIdentity(ctx.acl);
  return (s, method, d) => {
    if (CACHE_METHODS.has(method) || method === 'none') return;
    if (d !== null && (d.action === 'deny' || d.action === 'none')) return;
    store.store(cacheRequest(s, aclId), s.externalAddress);
  };
}
