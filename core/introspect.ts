/**
 * Read-only views of the running state for the admin service: live sessions, services and
 * traffic counters, built on request from the objects the pipeline itself updates (the
 * ServiceRuntime's live set, the Session, the Limits' counters). Nothing here is kept or
 * copied between requests, so there is no second source of truth and no cost on the data path.
 */
import type { Socket } from 'node:net';
import type { Session } from './session';
import type { LiveConnection, LiveView } from './live-set';
import { proxyError } from './errors';
import type { Limits } from './limits';
import type { CounterRuleSpec } from './limits';

/** env.symbols key under which the Runtime leaves itself for the admin service. */
export const RUNTIME_SYMBOL = 'rx3proxy.runtime';
/**
 * env.symbols key of a ReloadControl: whoever owns the Supervisor may provide one; without it
 * the admin service answers POST /api/reload with 501.
 */
export const RELOAD_CONTROL_SYMBOL = 'rx3proxy.reloadControl';

export interface ReloadControl {
  reload(reason: string): Promise<{ readonly ok: boolean; readonly problems: readonly string[]; readonly added: readonly string[]; readonly removed: readonly string[]; readonly kept: readonly string[] }>;
  /** Applied reloads so far (any trigger: SIGHUP, SIGUSR1, monitor:, the admin API). */
  readonly generation: number;
  /** Reloads refused so far (the running config was kept). */
  readonly failedReloads: number;
  /** The config file it reloads from: what PUT /api/config writes (the Supervisor's `file`). */
  readonly file: string;
}

/** What the admin reads of a service (ServiceRuntime and UdpServiceRuntime both have it). */
export interface ServiceView {
  readonly name: string;
  readonly config: { readonly type: string; readonly listen: string; readonly maxconn?: number };
  readonly port: number;
  readonly live: LiveView;
  /** Connections accepted since this ServiceRuntime started (UDP services: undefined). */
  readonly accepted?: number;
}

export interface SessionSnapshot {
  /** Connection id: what DELETE /api/sessions/:id takes. */
  readonly id: number;
  /** The request in flight on that connection. */
  readonly sessionId: number;
  readonly service: string;
  readonly user: string | null;
  readonly client: string;
  readonly target: string | null;
  readonly operation: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly startedAt: string;
  readonly ageMs: number;
}

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function targetOf(s: Session): string | null {
  if (s.request.host !== '') return hostPort(s.request.host, s.request.port);
  if (s.remoteAddress !== null) return hostPort(s.remoteAddress, s.remotePort);
  return null;
}

/**
 * The relay adds the target socket's counts to the session only when it ends; while it runs,
 * the socket's own counters are the live numbers (read, not counted per chunk).
 */
function liveBytes(s: Session, t: Socket | null): { bytesIn: number; bytesOut: number } {
  if (t === null) return { bytesIn: s.bytesIn, bytesOut: s.bytesOut };
  return { bytesIn: Math.max(s.bytesIn, t.bytesRead), bytesOut: Math.max(s.bytesOut, t.bytesWritten) };
}

export function snapshotOf(service: string, live: LiveConnection, now: number): SessionSnapshot {
  const c = live.connection;
  // `current` moves only when a request completes; `latest` is the one being served now.
  const s = c.latest ?? live.current;
  const startedAt = s?.startedAt ?? c.acceptedAt;
  const bytes = s === null || s === undefined ? { bytesIn: 0, bytesOut: 0 } : liveBytes(s, s.target);
  return {
    id: c.id,
    sessionId: s?.id ?? 0,
    service,
    user: s?.user ?? null,
    client: hostPort(c.clientAddress, c.clientPort),
    target: s === null || s === undefined ? null : targetOf(s),
    operation: s?.request.operation ?? 'CONNECT',
    ...bytes,
    startedAt: new Date(startedAt).toISOString(),
    ageMs: Math.max(0, now - startedAt),
  };
}

export function liveSessions(services: readonly ServiceView[], now: number): SessionSnapshot[] {
  const out: SessionSnapshot[] = [];
  for (const svc of services) for (const live of svc.live) out.push(snapshotOf(svc.name, live, now));
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Closes one connection so that it ends like any other: the request in flight is marked
 * PRX_ERR_SESSION_KILLED and its sockets are destroyed, so the relay settles and the `log`
 * step writes its record. A connection that was not relaying (waiting on DNS, auth, a
 * keep-alive idle) has no step to settle; it is unsubscribed once the client socket closed.
 * Resolves when the connection is gone; false when no live connection has that id.
 */
export function closeConnection(services: readonly ServiceView[], id: number, by: string): Promise<boolean> {
  for (const svc of services) {
    for (const live of svc.live) {
      if (live.connection.id !== id) continue;
      const gone = new Promise<boolean>((resolve) => live.subscription.add(() => resolve(true)));
      const s = live.connection.latest ?? live.current;
      if (s !== null && s !== undefined && s.error === null) s.error = proxyError('PRX_ERR_SESSION_KILLED', `closed through the admin service by ${by}`);
      const client = live.connection.socket;
      client.once('close', () =>
        setImmediate(() => {
          if (!live.subscription.closed) live.subscription.unsubscribe();
        }),
      );
      s?.target?.destroy();
      client.destroy();
      return gone;
    }
  }
  return Promise.resolve(false);
}

export interface CounterSnapshot {
  /** Index of the rule in `counters.rules`. */
  readonly rule: number;
  readonly id: number;
  readonly comment: string;
  readonly direction: string;
  readonly every: string;
  /** Bytes allowed per period; null when the rule only counts. */
  readonly limitBytes: number | null;
  /** Bytes counted in the current period; null for id 0 rules (their counter is not addressable). */
  readonly bytes: number | null;
  readonly resetAt: string | null;
  readonly exceeded: boolean | null;
}

/** `counters.rules` of the config in effect, with the usage of the shared Counter objects. */
export function counterSnapshots(config: Readonly<Record<string, unknown>>, limits: Limits): CounterSnapshot[] {
  const rules = (((config['counters'] ?? {}) as { rules?: readonly CounterRuleSpec[] }).rules ?? []);
  return rules.map((r, i) => {
    const id = r.id ?? 0;
    const c = id === 0 ? undefined : limits.counters.counter(id);
    const limit = c !== undefined ? c.limit : r.limitMB === undefined ? Infinity : Math.round(r.limitMB * 1024 * 1024);
    return {
      rule: i,
      id,
      comment: c?.comment ?? r.comment ?? '',
      direction: r.direction ?? 'all',
      every: c?.every ?? r.every ?? 'never',
      limitBytes: Number.isFinite(limit) ? limit : null,
      bytes: c?.bytes ?? null,
      resetAt: c === undefined ? null : new Date(c.resetAt).toISOString(),
      exceeded: c === undefined ? null : c.exceeded,
    };
  });
}
