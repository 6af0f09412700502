/**
 * Recent errors for `GET /api/errors` and the page: the last failed requests, kept from the
 * access records the `log` step writes (the same records the access log and the metrics get),
 * so a failure is seen once per request and never per chunk.
 *
 * One ring per process: a reload builds a new admin service and a new access-log hub, and the
 * failures that led to the reload must still be readable after it.
 */
import type { AccessRecord } from '../log/record';
import { ERRORS } from '../../core/errors';

export interface RecentError {
  readonly time: string;
  readonly service: string;
  readonly user: string | null;
  readonly client: string;
  readonly target: string | null;
  /** Our stable code (PRX_ERR_...). */
  readonly code: string;
  /** 3proxy's %E number. */
  readonly legacy: number;
  /** The error table's text for the code; the record carries no per-request detail. */
  readonly message: string;
  /** The request as logged (%T). */
  readonly request: string;
}

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function messageOf(code: string): string {
  const spec = (ERRORS as Partial<Record<string, { message: string }>>)[code];
  return spec === undefined ? code : spec.message.replaceAll('%s', '…');
}

export function recentErrorOf(rec: AccessRecord): RecentError {
  const target = rec.host !== null ? hostPort(rec.host, rec.requestedPort) : rec.remoteIp !== null ? hostPort(rec.remoteIp, rec.remotePort) : null;
  const code = rec.errorCode ?? 'PRX_ERR_INTERNAL';
  return {
    time: new Date(rec.time).toISOString(),
    service: rec.service,
    user: rec.user,
    client: hostPort(rec.clientIp, rec.clientPort),
    target,
    code,
    legacy: rec.code,
    message: messageOf(code),
    request: rec.text,
  };
}

export class RecentErrors {
  /** Records, not snapshots: the JSON shape is built only when someone asks. */
  private readonly ring: (AccessRecord | undefined)[];
  private next = 0;
  private count = 0;
  private readonly hubs = new WeakSet<object>();

  constructor(readonly capacity = 100) {
    this.ring = new Array<AccessRecord | undefined>(capacity);
  }

  attach(listeners: Set<(record: AccessRecord, line: string) => void>): void {
    if (this.hubs.has(listeners)) return;
    this.hubs.add(listeners);
    listeners.add((rec) => {
      if (rec.errorCode !== null) this.push(rec);
    });
  }

  push(rec: AccessRecord): void {
    this.ring[this.next] = rec;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Newest first. */
  list(): RecentError[] {
    const out: RecentError[] = [];
    for (let i = 1; i <= this.count; i++) {
      const rec = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (rec !== undefined) out.push(recentErrorOf(rec));
    }
    return out;
  }
}

let instance: RecentErrors | null = null;

export function recentErrors(): RecentErrors {
  return (instance ??= new RecentErrors());
}
