/**
 * SOCKS BIND (RFC 1928 §4, SOCKS4 BIND): relayMode 'socks-bind'.
 *
 *   listen on the external (or the client-facing local) address, ephemeral port
 *   -> first reply: that address and port (natAddress when set)
 *   -> accept ONE peer within the connect timeout (else PRX_ERR_SOCKS_BIND_TIMEOUT)
 *   -> the peer must be the requested host (0.0.0.0 / :: = anyone; else 470 BIND_PEER)
 *   -> second reply: the peer's address and port -> stream relay client <-> peer
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Observable} from 'rxjs';
import { concatMap, from } from 'rxjs';
import type { Session } from '../../core/session';
import { proxyError, toProxyError } from '../../core/errors';
import { BIND_KEY, type SocksBindSettings } from '../readRequest/socks';
import { sendReply, socks4Reply, socks5Reply } from '../readRequest/socks-reply';
import { attach } from '../connect';
import { streamRelay, type RelayOptions } from './relay';

function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function reply(session: Session, address: string, port: number): void {
  const v5 = session.request.protocol === 'socks5';
  sendReply(session, v5 ? socks5Reply(0, address, port) : socks4Reply(90, address, port));
}

/** Where to listen: an `external:` address of the request's family, else the client-facing address. */
function listenAddress(session: Session, s: SocksBindSettings): string {
  const want6 = session.request.address !== null && isIP(session.request.address) === 6;
  const ext = s.externals.find((a) => (isIP(a) === 6) === want6);
  return session.externalAddress ?? ext ?? plain(session.connection.localAddress);
}

/** The addresses a peer may come from; null = anyone. */
async function expectedPeers(session: Session, s: SocksBindSettings, signal: AbortSignal): Promise<Set<string> | null> {
  const r = session.request;
  if (r.address !== null) return r.address === '0.0.0.0' || r.address === '::' ? null : new Set([plain(r.address)]);
  if (r.host === '') return null;
  const addrs = await s.resolve.resolve(r.host, '46', signal);
  return new Set(addrs.map((a) => plain(a.address)));
}

/** Listens, answers the first reply, resolves with the one accepted peer. */
function acceptPeer(session: Session, s: SocksBindSettings): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const client = session.connection.socket;
    let timer: NodeJS.Timeout | undefined;
    const end = (err: Error | null, peer?: Socket): void => {
      clearTimeout(timer);
      client.removeListener('close', onClientClose);
      session.abort.signal.removeEventListener('abort', onClientClose);
      server.close();
      if (err !== null) reject(err);
      else resolve(peer!);
    };
    const onClientClose = (): void => end(proxyError('PRX_ERR_CLIENT_RESET', 'closed while waiting for the BIND peer'));
    server.once('connection', (peer) => {
      peer.on('error', noop);
      end(null, peer);
    });
    server.once('error', (e) => end(proxyError('PRX_ERR_CONNECT_BIND', listenAddress(session, s), e.message)));
    client.once('close', onClientClose);
    session.abort.signal.addEventListener('abort', onClientClose, { once: true });
    server.listen(0, listenAddress(session, s), () => {
      const a = server.address();
      if (a === null || typeof a === 'string') return end(proxyError('PRX_ERR_CONNECT_BIND', 'bind', 'no address'));
      session.externalAddress = plain(a.address);
      reply(session, s.natAddress ?? a.address, a.port);
      timer = setTimeout(() => end(proxyError('PRX_ERR_SOCKS_BIND_TIMEOUT')), s.acceptTimeoutMs);
    });
  });
}

async function bindPeer(session: Session): Promise<Session> {
  const s = session.state.get(BIND_KEY) as SocksBindSettings | undefined;
  if (s === undefined) throw proxyError('PRX_ERR_INTERNAL', 'BIND without settings');
  const expected = await expectedPeers(session, s, session.abort.signal);
  const peer = await acceptPeer(session, s);
  const peerAddress = plain(peer.remoteAddress ?? '');
  if (expected !== null && !expected.has(peerAddress)) {
    peer.destroy();
    throw proxyError('PRX_ERR_SOCKS_BIND_PEER', peerAddress);
  }
  attach(session, peer);
  reply(session, s.natAddress ?? peerAddress, peer.remotePort ?? 0);
  return session;
}

/** The 'socks-bind' relay. */
export function socksBindRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return from(
    bindPeer(session).catch((err: unknown) => {
      throw toProxyError(err);
    }),
  ).pipe(concatMap((s) => streamRelay(s, opts)));
}

function noop(): void {}
