/**
 * What the FTP relays need from the service, built once per service by the reader that
 * starts them (readRequest ftp for ftppr, readRequest http for ftp:// URLs) and carried to the
 * relay in session.state: relays themselves only get the session.
 *
 *   check   the service ACL for one FTP operation (FTP_GET/PUT/LIST before a transfer,
 *           FTP_DATA for the server's data address, as 3proxy's ftpdata asks authfunc)
 *   record  an access record for one transfer (3proxy logs every RETR/STOR/LIST of ftppr),
 *           its bytes added to the session's traffic counters
 *   dial    a direct connection with the service's family policy, source address and timeout
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { Env } from '../../core/env';
import type { OperatorContext } from '../../core/operator';
import { Session, type Operation, type RequestInfo } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import type { FamilyPolicy } from '../../core/net/resolver';
import { parseDuration } from '../../config/units';
import { serviceAcl, aclRequest } from '../authorize/service-acl';
import { accessLogSpec } from '../log';

/** session.state key of the service's FtpContext. */
export const FTP_CONTEXT_KEY = 'ftp.context';

export interface FtpContext {
  /** Server replies and data connections must come within this (the service's handshake timeout). */
  readonly replyTimeoutMs: number;
  /** The ACL's answer for `operation` towards host:port; null when allowed. */
  check(session: Session, operation: Operation, host: string, port: number): ProxyError | null;
  /** Writes the access record of one transfer made on the session's control connection. */
  record(session: Session, request: RequestInfo, bytes: { in: number; out: number }, error: ProxyError | null): void;
  dial(session: Session, host: string, port: number): Promise<Socket>;
}

export function ftpContext(env: Env, ctx: OperatorContext, replyTimeoutMs: number): FtpContext {
  const cfg = ctx.service.config;
  const acl = serviceAcl(ctx.service);
  const options = (cfg['options'] ?? {}) as { family?: FamilyPolicy };
  const family = options.family ?? '46';
  const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
  const connectMs = parseDuration(timeouts['connect'] ?? '15s');
  const sink = env.accessLogs.sink(accessLogSpec({}, cfg, env.config));
  return {
    replyTimeoutMs,
    check(session, operation, host, port) {
      // auth none: no ACL at all (3proxy semantics), as in authorize.
      if (session.authMethod === 'none') return null;
      const req = aclRequest(session, env.clock.now());
      // The control target keeps the address authorize may have resolved for it.
      const address = isIP(host) !== 0 ? host : host === session.request.host ? session.request.address : null;
      const d = acl.evaluate({ ...req, operation, targetHost: host, targetAddress: address, port });
      if (d.action === 'deny') return proxyError('PRX_ERR_ACL_DENIED', d.index);
      if (d.action === 'none') return proxyError('PRX_ERR_ACL_NO_MATCH');
      return null;
    },
    record(session, request, bytes, error) {
      // Traffic counters see the data bytes (the session's own total is its control connection);
      // throttled transfers were counted live by their pumps.
      if (session.limits !== null && !session.limits.countedLive) {
        session.limits.account('in', bytes.in);
        session.limits.account('out', bytes.out);
      }
      if (session.nolog) return;
      const s = new Session(session.connection, session.service, request, session.responder);
      // The control session stays the one in flight (reload re-checks it, introspection shows it).
      session.connection.latest = session;
      s.user = session.user;
      s.authMethod = session.authMethod;
      s.remoteAddress = session.remoteAddress;
      s.remotePort = session.remotePort;
      s.externalAddress = session.externalAddress;
      s.bytesIn = bytes.in;
      s.bytesOut = bytes.out;
      s.error = error;
      sink.write(s);
      s.close();
    },
    async dial(session, host, port) {
      const addrs = await env.resolver.resolve(host, family, isIP(host) === 0 ? session.abort.signal : undefined);
      let last: ProxyError | null = null;
      for (const a of addrs) {
        try {
          return await env.dialer.dial({ host: a.address, port, localAddress: session.externalAddress ?? undefined, timeoutMs: connectMs, signal: session.abort.signal });
        } catch (err) {
          last = err as ProxyError;
          if (last.code === 'PRX_ERR_SESSION_KILLED') break;
        }
      }
      throw last ?? proxyError('PRX_ERR_DNS_NOT_FOUND', host);
    },
  };
}
