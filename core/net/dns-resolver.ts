/**
 * The configured resolver (root `resolver:` section; 3proxy nserver, nscache, nscache6,
 * nsrecord, fakeresolve):
 *
 *   literal IP -> as is | fakeResolve -> 127.0.0.2 | hosts (nsrecord; 0.0.0.0 = blocked)
 *   -> cache (TTL, bounded per family) -> servers in order (UDP, TCP on /tcp or truncation)
 *   -> no servers: the system resolver (getaddrinfo)
 */
import { isIP } from 'node:net';
import { proxyError, toProxyError, type ProxyError } from '../errors';
import { applyPolicy, SystemResolver, type FamilyPolicy, type ResolvedAddress, type Resolver } from './resolver';
import { parseNameServer, queryServer, type NameServer, type RecordType } from './dns-query';
import { parseDuration } from '../../config/units';

/** The root `resolver:` section as validated by schemas/sections.ts. */
export interface ResolverConfig {
  readonly servers?: readonly string[];
  readonly cacheSize?: number;
  readonly cacheSize6?: number;
  readonly hosts?: Readonly<Record<string, string>>;
  readonly fakeResolve?: boolean;
  readonly timeout?: string;
}

interface CacheEntry {
  readonly addresses: readonly string[];
  readonly expires: number;
}

/** Map-ordered LRU with a size bound (0 = no caching). */
class TtlCache {
  private readonly map = new Map<string, CacheEntry>();
  constructor(private readonly max: number) {}
  get(key: string, now: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    this.map.delete(key);
    if (e.expires <= now) return undefined;
    this.map.set(key, e);
    return e;
  }
  set(key: string, entry: CacheEntry): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    this.map.set(key, entry);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  get size(): number {
    return this.map.size;
  }
}

const FAKE_ADDRESS = '127.0.0.2';

export class DnsResolver implements Resolver {
  private readonly servers: readonly NameServer[];
  private readonly hosts = new Map<string, ResolvedAddress | null>();
  private readonly fake: boolean;
  private readonly timeoutMs: number;
  private readonly cache4: TtlCache;
  private readonly cache6: TtlCache;
  private readonly system = new SystemResolver();
  /**
   * Cache lookups of the configured servers' path (per record type), for the admin metrics.
   * Plain increments: names answered by hosts, fakeResolve or the system resolver are not counted.
   */
  private readonly counts = { hits: 0, misses: 0 };

  constructor(
    cfg: ResolverConfig = {},
    private readonly now: () => number = Date.now,
  ) {
    this.servers = (cfg.servers ?? []).map(parseNameServer);
    this.fake = cfg.fakeResolve === true;
    this.timeoutMs = parseDuration(cfg.timeout ?? '15s');
    this.cache4 = new TtlCache(cfg.cacheSize ?? 65536);
    this.cache6 = new TtlCache(cfg.cacheSize6 ?? 65536);
    for (const [name, value] of Object.entries(cfg.hosts ?? {})) {
      const family = isIP(value);
      if (family === 0) throw proxyError('PRX_ERR_CONFIG_VALUE', `resolver.hosts.${name}`, `"${value}" is not an IP address`);
      // 3proxy's block-list trick: a name recorded as 0.0.0.0 does not resolve.
      this.hosts.set(normalize(name), value === '0.0.0.0' ? null : { address: value, family: family as 4 | 6 });
    }
  }

  /** Entries currently cached (v4, v6); for tests and the admin page. */
  cacheSizes(): { v4: number; v6: number } {
    return { v4: this.cache4.size, v6: this.cache6.size };
  }

  /** Cache hits and misses since this resolver was built (read-only view). */
  cacheStats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.counts.hits, misses: this.counts.misses };
  }

  async resolve(host: string, policy: FamilyPolicy, signal?: AbortSignal): Promise<ResolvedAddress[]> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const name = normalize(bare);
    if (isIP(bare) !== 0 || (!this.hosts.has(name) && !this.fake && this.servers.length === 0)) {
      return this.system.resolve(host, policy, signal);
    }
    const fixed = this.hosts.get(name);
    if (fixed === null) throw proxyError('PRX_ERR_DNS_NOT_FOUND', bare);
    if (fixed !== undefined) return nonEmpty(applyPolicy([fixed], policy), bare);
    // fakeresolve answers every name, whatever the family policy (the `+` parent resolves it).
    if (this.fake) return [{ address: FAKE_ADDRESS, family: 4 }];
    const wanted: RecordType[] = policy === '4' ? ['A'] : policy === '6' ? ['AAAA'] : ['A', 'AAAA'];
    const results = await Promise.allSettled(wanted.map((t) => this.lookupType(name, t, signal)));
    signal?.throwIfAborted();
    const found: ResolvedAddress[] = [];
    let firstError: ProxyError | null = null;
    results.forEach((r, i) => {
      const family = wanted[i] === 'A' ? 4 : 6;
      if (r.status === 'fulfilled') for (const address of r.value) found.push({ address, family });
      else firstError ??= r.reason as ProxyError;
    });
    if (found.length === 0 && firstError !== null) throw toProxyError(firstError);
    return nonEmpty(applyPolicy(found, policy), bare);
  }

  /** Cached lookup of one record type; NXDOMAIN and empty answers give []. */
  private async lookupType(name: string, type: RecordType, signal?: AbortSignal): Promise<readonly string[]> {
    const cache = type === 'A' ? this.cache4 : this.cache6;
    const hit = cache.get(name, this.now());
    if (hit !== undefined) {
      this.counts.hits++;
      return hit.addresses;
    }
    this.counts.misses++;
    let last: ProxyError = proxyError('PRX_ERR_DNS_FAILED', name, 'no name server answered');
    const perServer = Math.max(1, Math.floor(this.timeoutMs / this.servers.length));
    for (const server of this.servers) {
      try {
        const answer = await queryServer(server, name, type, perServer, signal);
        if (answer.rcode === 3 || (answer.rcode === 0 && answer.addresses.length === 0)) return [];
        if (answer.rcode !== 0) {
          last = proxyError('PRX_ERR_DNS_FAILED', name, `rcode ${answer.rcode}`);
          continue;
        }
        cache.set(name, { addresses: answer.addresses, expires: this.now() + answer.ttl * 1000 });
        return answer.addresses;
      } catch (err) {
        last = err as ProxyError;
        if (signal?.aborted === true) break;
      }
    }
    throw last;
  }
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

function nonEmpty(list: ResolvedAddress[], host: string): ResolvedAddress[] {
  if (list.length === 0) throw proxyError('PRX_ERR_DNS_NOT_FOUND', host);
  return list;
}

/** The resolver for a root config: DnsResolver when the section says anything, else the system one. */
export function resolverFromConfig(section: ResolverConfig | null | undefined, now?: () => number): Resolver {
  if (section === undefined || section === null) return new SystemResolver();
  return new DnsResolver(section, now);
}
