/**
 * Prometheus metrics (prom-client) for `GET /metrics`.
 *
 *   per finished request: one access record -> requests, bytes, duration, auth failures
 *                         (the log step's record, so nothing runs per chunk)
 *   per scrape:           live connections and accepted counts read from the services,
 *                         DNS cache hits/misses read from the resolver,
 *                         prom-client's default process metrics (event-loop lag included)
 *
 * One registry per process and label set: a reload builds a new admin service, and its
 * counters must go on from where the old one's were (Prometheus reads a drop as a restart).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccessRecord } from '../log/record';
import type { ServiceView } from '../../core/introspect';
import { ERRORS } from '../../core/errors';

const AUTH_CODES = /^PRX_ERR_(AUTH_|ACL_NO_MATCH)/;

/** Client-blamed failures that end a relay already under way: the connection was served, not refused. */
const NOT_REFUSALS = new Set(['PRX_ERR_IDLE_TIMEOUT', 'PRX_ERR_BANDWIDTH_TIMEOUT', 'PRX_ERR_CLIENT_RESET', 'PRX_ERR_SOCKS_UDP_FRAGMENT', 'PRX_ERR_SOCKS_UDP_STRANGER']);

/**
 * Why a request was refused, or null when it was not: the auth chain, the ACL, a limit, or a
 * handshake the client got wrong. Only client-blamed codes count; a maxconn wait writes no record
 * (the connection waits for a slot), so it never lands here.
 */
export function refusalReason(errorCode: string | null): string | null {
  if (errorCode === null || NOT_REFUSALS.has(errorCode)) return null;
  const spec = (ERRORS as Partial<Record<string, { blame: string }>>)[errorCode];
  if (spec === undefined || spec.blame !== 'client') return null;
  if (errorCode.startsWith('PRX_ERR_AUTH_') || errorCode === 'PRX_ERR_ACL_NO_MATCH' || errorCode === 'PRX_ERR_SOCKS_NO_METHOD') return 'auth';
  if (errorCode.startsWith('PRX_ERR_ACL_')) return 'acl';
  if (/^PRX_ERR_(LIMIT|QUOTA|CONNLIM)_/.test(errorCode)) return 'limit';
  return 'handshake';
}

/** What the metrics read of a resolver that counts its cache (DnsResolver). */
interface CountingResolver {
  cacheStats(): { readonly hits: number; readonly misses: number };
}
const counting = (r: unknown): r is CountingResolver => typeof (r as Partial<CountingResolver> | null)?.cacheStats === 'function';

export class AdminMetrics {
  readonly registry = new Registry();
  private readonly accepted: Counter<'service'>;
  private readonly active: Gauge<'service'>;
  private readonly requests: Counter<string>;
  private readonly bytes: Counter<string>;
  private readonly duration: Histogram<'service'>;
  private readonly authFailures: Counter<'service' | 'code'>;
  private readonly reloads: Counter<'result'>;
  private readonly refused: Counter<'service' | 'reason' | 'code'>;
  private readonly dns: Counter<'result'>;
  /** Hits/misses last seen per resolver: each runtime builds its own, counting from 0. */
  private readonly dnsSeen = new WeakMap<object, { hits: number; misses: number }>();
  /** accepted count last seen per ServiceRuntime, so a reload's fresh count adds, never rewinds. */
  private readonly seen = new WeakMap<object, number>();
  /** Access-log hubs already feeding this registry (two admin services must not count twice). */
  private readonly hubs = new WeakSet<object>();

  constructor(readonly perUser: boolean) {
    const r = [this.registry];
    const userLabel = perUser ? ['user'] : [];
    collectDefaultMetrics({ register: this.registry, prefix: 'rx3proxy_' });
    this.accepted = new Counter({ name: 'rx3proxy_connections_accepted_total', help: 'Client connections accepted, by service.', labelNames: ['service'], registers: r });
    this.active = new Gauge({ name: 'rx3proxy_connections_active', help: 'Client connections being served now, by service.', labelNames: ['service'], registers: r });
    this.requests = new Counter({
      name: 'rx3proxy_requests_total',
      help: "Finished requests by service and 3proxy result code (%E; 0 = success). Requests of nolog ACL rules are not counted.",
      labelNames: ['service', 'code', ...userLabel],
      registers: r,
    });
    this.bytes = new Counter({
      name: 'rx3proxy_bytes_total',
      help: 'Bytes relayed by finished requests: direction in = from the server, out = to the server.',
      labelNames: ['service', 'direction', ...userLabel],
      registers: r,
    });
    this.duration = new Histogram({
      name: 'rx3proxy_request_duration_seconds',
      help: 'Request duration from request start to the access record.',
      labelNames: ['service'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: r,
    });
    this.authFailures = new Counter({ name: 'rx3proxy_auth_failures_total', help: 'Requests refused for missing or wrong credentials, by service and error code.', labelNames: ['service', 'code'], registers: r });
    this.refused = new Counter({
      name: 'rx3proxy_connections_refused_total',
      help: 'Requests refused before they were served, by service, reason (auth, acl, limit, handshake) and error code.',
      labelNames: ['service', 'reason', 'code'],
      registers: r,
    });
    this.dns = new Counter({ name: 'rx3proxy_dns_cache_total', help: "Lookups of the resolver's cache (resolver.servers), by result (hit, miss).", labelNames: ['result'], registers: r });
    this.reloads = new Counter({ name: 'rx3proxy_reloads_total', help: 'Config reloads by any trigger (SIGHUP, SIGUSR1, monitor:, the admin API), by result (ok, failed).', labelNames: ['result'], registers: r });
  }

  /** Feeds this registry from a runtime's access records (once per hub). */
  attach(listeners: Set<(record: AccessRecord, line: string) => void>): void {
    if (this.hubs.has(listeners)) return;
    this.hubs.add(listeners);
    listeners.add((rec) => this.observe(rec));
  }

  observe(rec: AccessRecord): void {
    const user = rec.user ?? '-';
    const req: Record<string, string> = { service: rec.service, code: String(rec.code) };
    if (this.perUser) req['user'] = user;
    this.requests.inc(req);
    const base: Record<string, string> = this.perUser ? { service: rec.service, user } : { service: rec.service };
    if (rec.bytesIn > 0) this.bytes.inc({ ...base, direction: 'in' }, rec.bytesIn);
    if (rec.bytesOut > 0) this.bytes.inc({ ...base, direction: 'out' }, rec.bytesOut);
    this.duration.observe({ service: rec.service }, rec.durationMs / 1000);
    if (rec.errorCode !== null && AUTH_CODES.test(rec.errorCode)) this.authFailures.inc({ service: rec.service, code: rec.errorCode });
    const reason = refusalReason(rec.errorCode);
    if (reason !== null) this.refused.inc({ service: rec.service, reason, code: rec.errorCode ?? '' });
  }

  /** Supervisor totals last seen: a scrape adds what happened since (the counter never rewinds). */
  private reloadsSeen = { ok: 0, failed: 0 };

  /** The text exposition, with the service gauges read at this moment. */
  async scrape(services: readonly ServiceView[], resolver?: unknown, reloads?: { readonly generation: number; readonly failedReloads: number }): Promise<string> {
    if (reloads !== undefined) {
      this.reloads.inc({ result: 'ok' }, Math.max(0, reloads.generation - this.reloadsSeen.ok));
      this.reloads.inc({ result: 'failed' }, Math.max(0, reloads.failedReloads - this.reloadsSeen.failed));
      this.reloadsSeen = { ok: reloads.generation, failed: reloads.failedReloads };
    }
    if (counting(resolver)) {
      const now = resolver.cacheStats();
      const last = this.dnsSeen.get(resolver) ?? { hits: 0, misses: 0 };
      this.dns.inc({ result: 'hit' }, Math.max(0, now.hits - last.hits));
      this.dns.inc({ result: 'miss' }, Math.max(0, now.misses - last.misses));
      this.dnsSeen.set(resolver, { hits: now.hits, misses: now.misses });
    }
    this.active.reset();
    for (const s of services) {
      this.active.set({ service: s.name }, s.live.size);
      if (s.accepted === undefined) continue;
      const last = this.seen.get(s) ?? 0;
      if (s.accepted > last) this.accepted.inc({ service: s.name }, s.accepted - last);
      else this.accepted.inc({ service: s.name }, 0);
      this.seen.set(s, s.accepted);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

const instances = new Map<boolean, AdminMetrics>();

/** The process's registry for this label set. */
export function adminMetrics(perUser: boolean): AdminMetrics {
  let m = instances.get(perUser);
  if (m === undefined) {
    m = new AdminMetrics(perUser);
    instances.set(perUser, m);
  }
  return m;
}
