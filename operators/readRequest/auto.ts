/**
 * `auto` (3proxy `auto`): one port for the HTTP proxy and SOCKS 4/5, chosen by the first byte.
 *
 *   0x04 / 0x05 -> the socks reader
 *   0x16        -> the 'tls' reader when registered, else PRX_ERR_NOT_IMPLEMENTED (logged, closed)
 *   anything    -> the 'http' reader
 *
 * The peeked byte is put back with socket.unshift(), so the chosen reader sees the whole stream.
 * The readers are looked up and created once per service (create time): a missing 'http'
 * reader is a config error, not a per-connection surprise.
 */
import { Observable, concatMap } from 'rxjs';
import type { Socket } from 'node:net';
import { Session, NO_RESPONDER, emptyRequest } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import { protocolReaders, type ProtocolReader } from './protocols';
import { socksReader } from './socks';

type PerConnection = (first: Session) => Observable<Session>;

function errored(first: Session, err: ProxyError): Session {
  const s = new Session(first.connection, first.service, emptyRequest('auto'), NO_RESPONDER);
  s.error = err;
  return s;
}

/** Resolves with the first byte (put back on the socket), or an error on close / timeout. */
function peekFirstByte(socket: Socket, timeoutMs: number): Observable<number | ProxyError> {
  return new Observable<number | ProxyError>((sub) => {
    const settle = (v: number | ProxyError): void => {
      cleanup();
      sub.next(v);
      sub.complete();
    };
    const onReadable = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null || chunk.length === 0) return;
      socket.unshift(chunk);
      settle(chunk[0]!);
    };
    const onEnd = (): void => settle(proxyError('PRX_ERR_AUTO_NO_BYTE'));
    const timer = setTimeout(() => settle(proxyError('PRX_ERR_REQUEST_TIMEOUT')), timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
    }
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    if (socket.readableLength > 0) onReadable();
    return cleanup;
  });
}

export const autoReader: ProtocolReader = {
  name: 'auto',
  create(options, env, ctx) {
    const http = protocolReaders.get('http');
    if (http === undefined) {
      throw proxyError('PRX_ERR_CONFIG_VALUE', `service "${ctx.service.name}"`, 'type auto needs the http protocol reader, which is not registered');
    }
    const socks = socksReader.create({ ...options, protocol: 'socks' }, env, ctx);
    const httpRead = http.create({ ...options, protocol: 'http' }, env, ctx);
    const tls = protocolReaders.get('tls');
    const tlsRead: PerConnection | null = tls === undefined ? null : tls.create({ ...options, protocol: 'tls' }, env, ctx);
    const choose = (first: Session, byte: number): Observable<Session> => {
      if (byte === 4 || byte === 5) return socks(first);
      if (byte === 0x16) {
        if (tlsRead !== null) return tlsRead(first);
        return new Observable<Session>((sub) => {
          sub.next(errored(first, proxyError('PRX_ERR_NOT_IMPLEMENTED', 'TLS on an auto port')));
          sub.complete();
        });
      }
      return httpRead(first);
    };
    return (first) =>
      peekFirstByte(first.connection.socket, options.handshakeTimeoutMs).pipe(
        concatMap((v) => (typeof v === 'number' ? choose(first, v) : [errored(first, v)])),
      );
  },
};

protocolReaders.register('auto', autoReader);
