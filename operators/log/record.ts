/**
 * One access-log record: what 3proxy's `dobuf` reads out of a clientparam when it logs a
 * finished request. Built once per record from the Session (see `fromSession`) so formatters
 * and plugin log hooks never touch live session state.
 */
import type { Session } from '../../core/session';

export interface AccessRecord {
  /** When the record is written, ms since epoch. */
  readonly time: number;
  /** When the request started, ms since epoch. */
  readonly startTime: number;
  /** Service name from the config (`name:`). */
  readonly service: string;
  /** 3proxy's %N: PROXY, SOCKS, SOCK4, SOCK5, SOC45, TCPPM, UDPPM, POP3P, SMTPP, IMAPP, FTPPR, ADMIN, DNSPR, TLSPR, AUTO. */
  readonly serviceLogName: string;
  /** Listening port (%p). */
  readonly servicePort: number;
  /** Authenticated user or null (%U prints `-`). */
  readonly user: string | null;
  readonly clientIp: string;
  readonly clientPort: number;
  /** Address the client connected to (%i). */
  readonly internalIp: string;
  /** Outgoing source address used (%e), null when the OS chose. */
  readonly externalIp: string | null;
  /** Address and port actually connected, maybe a parent (%R %r). */
  readonly remoteIp: string | null;
  readonly remotePort: number;
  /** Requested address and port (%Q %q). */
  readonly requestedIp: string | null;
  readonly requestedPort: number;
  /** Requested host name (%n); null when the request named none. */
  readonly host: string | null;
  /** 3proxy operation name (HTTP_GET, CONNECT, ...). */
  readonly operation: string;
  /** Bytes received from the server (%I) and sent to the server (%O). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  /** Number of parent hops used (%h). */
  readonly hops: number;
  /** 3proxy result code (%E); 0 on success. */
  readonly code: number;
  /** Our stable error code, null on success. */
  readonly errorCode: string | null;
  /** Service-specific text (%T): the request line, `CONNECT host:port`, the target... */
  readonly text: string;
}

export function fromSession(s: Session, now: number = Date.now()): AccessRecord {
  const req = s.request;
  return {
    time: now,
    startTime: s.startedAt,
    service: s.service.name,
    serviceLogName: s.service.logName,
    servicePort: s.service.port,
    user: s.user,
    clientIp: s.connection.clientAddress,
    clientPort: s.connection.clientPort,
    internalIp: s.connection.localAddress,
    externalIp: s.externalAddress,
    remoteIp: s.remoteAddress,
    remotePort: s.remotePort,
    requestedIp: req.address,
    requestedPort: req.port,
    host: req.host === '' ? null : req.host,
    operation: req.operation,
    bytesIn: s.bytesIn,
    bytesOut: s.bytesOut,
    durationMs: Math.max(0, now - s.startedAt),
    hops: s.parents.length,
    code: s.error === null ? 0 : s.error.legacyCode,
    errorCode: s.error === null ? null : s.error.code,
    text: req.text,
  };
}
