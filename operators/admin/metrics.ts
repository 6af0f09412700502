/**
 * Prometheus metrics (prom-client) for `GET /metrics`.
 *
 *   per finished request: one access record -> requests, bytes, duration, auth failures
 *                         (the log step's record, so nothing runs per chunk)
 *   per scrape:           live connections and accepted counts read from the services,
 *                         prom-client's default process metrics (event-loop lag included)
 *
 * One registry per process and label set: a reload builds a new admin service, and its
 * counters must go on from where the old one's were (Prometheus reads a drop as a restart).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccessRecord } from '../log/record';
import type { ServiceView } from '../../core/introspect';

const AUTH_CODES = /^PRX_ERR_(AUTH_|ACL_NO_MATCH)/;

export class AdminMetrics {
  readonly registry = new Registry();
  private readonly accepted: Counter<'service'>;
  private readonly active: Gauge<'service'>;
  private readonly requests: Counter<string>;
  private readonly bytes: Counter<string>;
  private readonly duration: Histogram<'service'>;
  private readonly authFailures: Counter<'service' | 'code'>;
  private readonly reloads: Counter<'result'>;
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
    this.reloads = new Counter({ name: 'rx3proxy_reloads_total', help: 'Reloads requested through the admin API, by result.', labelNames: ['result'], registers: r });
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
  }

  reloaded(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'ok' : 'failed' });
  }

  /** The text exposition, with the service gauges read at this moment. */
  async scrape(services: readonly ServiceView[]): Promise<string> {
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
