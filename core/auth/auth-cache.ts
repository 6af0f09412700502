/**
 * The auth cache (3proxy `authcache` + `auth cache`/`cacheacl`), bounded and with a TTL.
 *
 *   store   after a successful non-cache auth that produced a user; with `password` in the
 *           key only when the client sent a password. Storing refreshes the entry's TTL.
 *   lookup  key fields equal (user, password, acl identity, dst*, srv*), then:
 *             `ip` in key, same client IP       -> hit: user (and ext address) restored
 *             `ip` + `limit`, another client IP -> 10 (the user is bound to one IP)
 *             `ip` without limit, other IP      -> miss
 *           A lookup does not refresh the TTL (3proxy neither).
 *
 * 3proxy keeps a list and takes the newest matching entry. Here the map key holds the exact
 * fields, and the client IP only when `ip` is keyed without `limit`: with `limit` one entry
 * per user holds the latest IP, which is the entry 3proxy's newest-first walk would find.
 * Eviction is least-recently-used once `size` entries exist; expired entries are dropped
 * when met.
 */
import type { Clock } from '../env';

/** Key fields of `authCache.keys` (3proxy authcache type letters). */
export type AuthCacheKey =
  | 'ip'
  | 'user'
  | 'password'
  | 'limit'
  | 'acl'
  | 'ext'
  | 'dstaddr'
  | 'dstport'
  | 'dsthost'
  | 'dstoper'
  | 'srvaddr'
  | 'srvport';

/** What the cache sees of a request. */
export interface AuthCacheRequest {
  readonly user: string | null;
  readonly password: string | null;
  readonly clientAddress: string;
  /** Identity of the service's ACL (same ACL object = same string). */
  readonly acl: string;
  readonly dstaddr: string | null;
  readonly dstport: number;
  readonly dsthost: string;
  readonly dstoper: string;
  readonly srvaddr: string;
  readonly srvport: number;
}

export interface AuthCacheEntry {
  readonly user: string;
  readonly clientAddress: string;
  /** The outgoing address at store time (`ext` key), else null. */
  readonly externalAddress: string | null;
  readonly expires: number;
}

export type AuthCacheLookup =
  | { readonly kind: 'hit'; readonly entry: AuthCacheEntry }
  | { readonly kind: 'miss' }
  /** `limit`: the user was seen from another IP (3proxy code 10). */
  | { readonly kind: 'limit'; readonly entry: AuthCacheEntry };

export interface AuthCacheSettings {
  readonly keys: readonly AuthCacheKey[];
  /** Entry lifetime in ms. */
  readonly ttlMs: number;
  readonly size: number;
}

/** 3proxy's defaults: `user,pass`, 600 s, 262144 entries. */
export const AUTH_CACHE_DEFAULTS: AuthCacheSettings = Object.freeze({
  keys: Object.freeze(['user', 'password'] as AuthCacheKey[]),
  ttlMs: 600_000,
  size: 262_144,
});

const EXACT: readonly AuthCacheKey[] = ['user', 'password', 'acl', 'dstaddr', 'dstport', 'dsthost', 'dstoper', 'srvaddr', 'srvport'];

export class AuthCache {
  private readonly entries = new Map<string, AuthCacheEntry>();
  private settings: AuthCacheSettings = AUTH_CACHE_DEFAULTS;
  private keySet: ReadonlySet<AuthCacheKey> = new Set(AUTH_CACHE_DEFAULTS.keys);

  constructor(
    private clock: Clock,
    settings?: Partial<AuthCacheSettings>,
  ) {
    if (settings !== undefined) this.configure(settings);
  }

  /**
   * New settings (a reload). Entries stay, as 3proxy keeps its cache across reloads; a
   * changed key set makes old keys unreachable, so they are dropped instead.
   */
  configure(settings: Partial<AuthCacheSettings>, clock?: Clock): void {
    const next = { ...AUTH_CACHE_DEFAULTS, ...settings };
    const sameKeys = next.keys.length === this.settings.keys.length && next.keys.every((k) => this.keySet.has(k));
    this.settings = next;
    this.keySet = new Set(next.keys);
    if (clock !== undefined) this.clock = clock;
    if (!sameKeys) this.entries.clear();
    this.evict();
  }

  get keys(): ReadonlySet<AuthCacheKey> {
    return this.keySet;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /** Whether a successful auth with this request is stored (3proxy: a user, and a password if keyed). */
  storable(req: AuthCacheRequest): boolean {
    return req.user !== null && (!this.keySet.has('password') || req.password !== null);
  }

  /** Stores (or refreshes) the entry after a successful non-cache auth. */
  store(req: AuthCacheRequest, externalAddress: string | null): void {
    if (!this.storable(req) || req.user === null) return;
    const key = this.keyOf(req);
    this.entries.delete(key);
    this.entries.set(key, {
      user: req.user,
      clientAddress: req.clientAddress,
      externalAddress: this.keySet.has('ext') ? externalAddress : null,
      expires: this.clock.now() + this.settings.ttlMs,
    });
    this.evict();
  }

  /** The `cache` method's lookup. */
  lookup(req: AuthCacheRequest): AuthCacheLookup {
    if (this.keySet.has('user') && req.user === null) return { kind: 'miss' };
    if (this.keySet.has('password') && req.password === null) return { kind: 'miss' };
    const key = this.keyOf(req);
    const entry = this.entries.get(key);
    if (entry === undefined) return { kind: 'miss' };
    if (entry.expires <= this.clock.now()) {
      this.entries.delete(key);
      return { kind: 'miss' };
    }
    // Recently used: move to the young end of the map.
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (!this.keySet.has('ip') || entry.clientAddress === req.clientAddress) return { kind: 'hit', entry };
    return { kind: 'limit', entry };
  }

  private keyOf(req: AuthCacheRequest): string {
    const parts: string[] = [];
    for (const k of EXACT) if (this.keySet.has(k)) parts.push(String(req[k as keyof AuthCacheRequest] ?? '\u0000'));
    // With `limit` the IP is checked after the lookup (another IP gives 10), not keyed.
    if (this.keySet.has('ip') && !this.keySet.has('limit')) parts.push(req.clientAddress);
    return parts.join('\u0001');
  }

  /** Drops the least recently used entries beyond `size` (Map order is insertion/use order). */
  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.settings.size) break;
      this.entries.delete(key);
    }
  }
}

/** env.symbols key: an AuthCache placed here (by an embedder or a test) is used instead of the process-wide one. */
export const AUTH_CACHE_SYMBOL = 'auth.cache';

let processCache: AuthCache | undefined;

/**
 * The cache every service shares. It lives at module level, so a reload (a new Env) keeps
 * it, as 3proxy keeps `authc` across reloads; `env.symbols.get('auth.cache')` overrides it.
 */
export function sharedAuthCache(clock: Clock, symbols: ReadonlyMap<string, unknown>): AuthCache {
  const given = symbols.get(AUTH_CACHE_SYMBOL);
  if (given instanceof AuthCache) return given;
  processCache ??= new AuthCache(clock);
  return processCache;
}

/** Forgets the process-wide cache (tests). */
export function resetSharedAuthCache(): void {
  processCache = undefined;
}
