/**
 * `udp` reader (3proxy udppm): each client address:port is one association to the fixed
 * `target`. The ACL is checked once per association (operation UDPASSOC) and one access record
 * is written when it ends: after `timeouts.idle` without datagrams either way, or after the
 * first reply in `singlePacket` mode (-s: one request, one reply, DNS-like).
 */
import { Observable, of } from 'rxjs';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { Session, type Responder } from '../../core/session';
import { proxyError, proxyErrorFrom, toProxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import type { FamilyPolicy } from '../../core/net/resolver';
import { protocolReaders, type ProtocolReader } from '../readRequest/protocols';
import { parseTarget } from '../readRequest/fixed';
import type { RelayOptions } from '../mapSockets/relay';
import { associationOf, udpSession } from './relay';

/** The type's `options:` (services/udppm.yaml). */
export interface UdppmOptions {
  readonly singlePacket?: boolean;
  readonly family?: FamilyPolicy;
}

/** UDP has nothing to answer a refused association with: the datagrams are just dropped. */
const dropResponder: Responder = { fail() {}, connected() {} };

async function targetAddress(env: Env, session: Session, family: FamilyPolicy): Promise<{ address: string; family: 4 | 6 }> {
  const given = session.request.address;
  if (given !== null) return { address: given, family: isIP(given) === 6 ? 6 : 4 };
  const [first] = await env.resolver.resolve(session.request.host, family, session.abort.signal);
  if (first === undefined) throw proxyError('PRX_ERR_DNS_NOT_FOUND', session.request.host);
  return first;
}

/** Relays one association until idle (or the first reply in single-packet mode). */
function relayAssociation(env: Env, opts: UdppmOptions, session: Session, relay: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const assoc = associationOf(session);
    let socket: DgramSocket | null = null;
    let timer: NodeJS.Timeout | undefined;
    let stopReceiving = (): void => {};
    const finish = (err?: unknown): void => {
      if (sub.closed) return;
      if (err !== undefined) sub.error(toProxyError(err));
      else {
        sub.next(session);
        sub.complete();
      }
    };
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(), relay.idleMs);
    };
    targetAddress(env, session, opts.family ?? '46').then((to) => {
      if (sub.closed) return;
      session.remoteAddress = to.address;
      session.remotePort = session.request.port;
      const s = createSocket(to.family === 6 ? 'udp6' : 'udp4');
      socket = s;
      s.on('error', (err) => finish(proxyErrorFrom('PRX_ERR_UDP_FAILED', err, err.message)));
      s.on('message', (msg, rinfo) => {
        // Only the target answers: anything else on this port is a stranger.
        if (rinfo.address !== to.address || rinfo.port !== session.request.port) return;
        session.bytesIn += msg.length;
        assoc.send(msg);
        touch();
        if (opts.singlePacket === true) finish();
      });
      stopReceiving = assoc.receive((d) => {
        if (opts.singlePacket === true) {
          // One request per association: the next datagram from this client starts another.
          if (session.bytesOut > 0) return;
          assoc.release();
        }
        session.bytesOut += d.length;
        s.send(d, session.request.port, to.address);
        touch();
      });
      touch();
    }, finish);
    return () => {
      clearTimeout(timer);
      stopReceiving();
      socket?.close();
    };
  });
}

export const udppmReader: ProtocolReader = {
  name: 'udp',
  create(_options, env, ctx) {
    const target = ctx.service.config['target'];
    if (typeof target !== 'string') throw proxyError('PRX_ERR_CONFIG_VALUE', 'target', `service "${ctx.service.name}" needs target: host:port`);
    const { host, port } = parseTarget(target);
    const opts = (ctx.service.config['options'] ?? {}) as UdppmOptions;
    const exchange = (s: Session, relay: RelayOptions): Observable<Session> => relayAssociation(env, opts, s, relay);
    return (first) => {
      const req = new Session(
        first.connection,
        first.service,
        { protocol: 'udp', operation: 'UDPASSOC', host, port, address: isIP(host) !== 0 ? host : null, text: target, method: '', url: '' },
        dropResponder,
      );
      return of(udpSession(first, req, exchange));
    };
  },
};

protocolReaders.register('udp', udppmReader);
