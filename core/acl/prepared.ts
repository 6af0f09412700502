/**
 * The per-request side of matching: the values every rule compares with (operation bit,
 * user name, parsed client and target addresses, normalized host, local weekday and time),
 * derived at most once per walk instead of once per rule.
 *
 * One instance is reset per walk and reused, so a walk allocates nothing. Addresses, host
 * and clock are derived lazily (most rules never look at them) and cached by the source
 * string or timestamp, so repeated walks over the same request do not parse again.
 * Matching is synchronous and never calls out, so a shared instance cannot be seen
 * half-updated.
 */
import { OPERATIONS } from '../session';
import type { Operation } from '../session';
import { parseIp } from './address';
import type { IpAddress } from './address';
import { normalizeHost } from './host-pattern';
import { secondsOfDay } from './time';
import type { AclRequest } from './match';

/** One bit per operation, in session.ts's OPERATIONS order. */
export const OPERATION_BITS: Readonly<Record<Operation, number>> = Object.freeze(
  Object.fromEntries(OPERATIONS.map((op, i) => [op, 1 << i])) as Record<Operation, number>,
);

const NO_REQUEST: AclRequest = {
  user: null,
  clientAddress: '',
  targetHost: '',
  targetAddress: null,
  port: 0,
  operation: 'CONNECT',
  now: new Date(0),
};

export class PreparedRequest {
  req: AclRequest = NO_REQUEST;
  /** OPERATION_BITS of the operation (0 for an unknown one, which then matches no list). */
  opBit = 0;
  /** The user, or `-` for none (3proxy). */
  user = '-';
  private clientKey: string | null = null;
  private clientIp: IpAddress | null = null;
  private targetKey: string | null = null;
  private targetIp: IpAddress | null = null;
  private hostKey: string | null = null;
  private hostNorm = '';
  private timeKey = NaN;
  /** The clock fields belong to the current request (saves getTime() on every rule). */
  private clockReady = false;
  private dayBit = 0;
  private daySeconds = 0;

  /** Points this view at `req`; field derivations happen on first use. */
  reset(req: AclRequest): this {
    this.req = req;
    this.opBit = (OPERATION_BITS as Record<string, number | undefined>)[req.operation] ?? 0;
    this.user = req.user ?? '-';
    this.clockReady = false;
    return this;
  }

  /** The client address, IPv4-mapped folded to IPv4; null when it is no IP (unix socket). */
  client(): IpAddress | null {
    const s = this.req.clientAddress;
    if (s !== this.clientKey) {
      this.clientIp = parseIp(s);
      this.clientKey = s;
    }
    return this.clientIp;
  }

  /** The requested address: `targetAddress`, else `targetHost` when that is address text. */
  target(): IpAddress | null {
    const s = this.req.targetAddress ?? this.req.targetHost;
    if (s !== this.targetKey) {
      this.targetIp = parseIp(s);
      this.targetKey = s;
    }
    return this.targetIp;
  }

  /** `targetHost` lower-cased without trailing dots ('' when none). */
  host(): string {
    const s = this.req.targetHost;
    if (s !== this.hostKey) {
      this.hostNorm = normalizeHost(s);
      this.hostKey = s;
    }
    return this.hostNorm;
  }

  /** `1 << getDay()` of the request time (local). */
  weekdayBit(): number {
    if (!this.clockReady) this.clock();
    return this.dayBit;
  }

  /** Seconds since local midnight of the request time. */
  seconds(): number {
    if (!this.clockReady) this.clock();
    return this.daySeconds;
  }

  private clock(): void {
    const now = this.req.now;
    const t = now.getTime();
    this.clockReady = true;
    if (t === this.timeKey) return;
    // Local-time getters each convert through the time zone: do it once per timestamp.
    // An invalid Date matches no weekday or time rule.
    this.dayBit = Number.isNaN(t) ? 0 : 1 << now.getDay();
    this.daySeconds = Number.isNaN(t) ? -1 : secondsOfDay(now);
    this.timeKey = t;
  }
}
