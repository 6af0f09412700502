/**
 * `readRequest{protocol: http}`: the HTTP proxy's reader, on node:http's parser (llhttp).
 *
 *   one http.Server per service, never listening; each client socket is handed to it with
 *   emit('connection') and its events are routed back to the connection's reader:
 *     'request'     -> Session (relayMode 'http', HTTP_GET/POST/...; keep-alive: one per request;
 *                      ftp:// URLs: relayMode 'ftp-http', FTP_GET/FTP_PUT)
 *     'connect'     -> Session (relayMode 'stream', HTTP_CONNECT; bytes read past the head in
 *                      session.head; connected() writes `200 Connection established`)
 *     'upgrade'     -> Session (relayMode 'stream' tunnel; the request head goes to the target)
 *     'clientError' -> Session with error set (400 / 431), logged and answered by the pipeline
 *
 * Requests on one connection run one at a time (the pipeline's concatMap); the handshake
 * timer runs only while no request is in progress.
 */
import { Observable } from 'rxjs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Session } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import { parseDuration, parseSize } from '../../config/units';
import type { FamilyPolicy } from '../../core/net/resolver';
import { protocolReaders, type ProtocolReader } from './protocols';
import { httpResponder } from './http-responder';
import { ConnectionReader, type ConnectionHooks, type ReaderContext } from './http-connection';
import { createUpstream, type HttpUpstreamOptions } from '../mapSockets/http-upstream';
import { ftpContext } from '../mapSockets/ftp-context';
import { tlsClientMaterialFor, type TlsClientConfig } from '../../core/tls-client';
import { attemptDelayOf } from '../../core/net/happy-eyeballs';
import { serviceBackoffMs } from '../../core/net/chain';
import { serviceSource } from '../../core/net/egress';

const DEFAULT_MAX_HEADER = 64 * 1024;

/** The parser for one service; routes events to the socket's hooks. */
function parserServer(maxHeaderSize: number, hooks: WeakMap<Socket, ConnectionHooks>): Server {
  const server = createServer({ maxHeaderSize, requireHostHeader: false, keepAliveTimeout: 0 });
  server.keepAliveTimeout = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => hooks.get(req.socket)?.request(req, res));
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => hooks.get(socket)?.connect(req, head));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => hooks.get(socket)?.upgrade(req, head));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const h = hooks.get(socket);
    if (h === undefined) socket.destroy();
    else h.clientError(err);
  });
  return server;
}

/** llhttp error -> our code: header overflow is 431, the rest a 400. */
export function parseError(err: NodeJS.ErrnoException): ProxyError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return proxyError('PRX_ERR_REQUEST_TOO_LARGE');
  return proxyError('PRX_ERR_HTTP_BAD_REQUEST', err.code ?? err.message);
}


/** The upstream settings of a proxy service (timeouts, family, -T), for plain and MITM upstreams. */
export function upstreamOptions(cfg: Readonly<Record<string, unknown>>, serviceName: string): HttpUpstreamOptions {
  const o = (cfg['options'] ?? {}) as Record<string, unknown>;
  const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
  return {
    connectTimeoutMs: parseDuration(timeouts['connect'] ?? '15s'),
    responseTimeoutMs: parseDuration((o['responseTimeout'] as string | undefined) ?? '60s'),
    family: (o['family'] as FamilyPolicy | undefined) ?? '46',
    attemptDelayMs: attemptDelayOf(o),
    backoffMs: serviceBackoffMs(o),
    sourceFor: serviceSource(cfg, serviceName),
    passProxyHeaders: o['passProxyHeaders'] === true,
    tls: cfg['upstreamTls'] === undefined ? null : tlsClientMaterialFor(cfg['upstreamTls'] as TlsClientConfig),
  };
}

export const httpReader: ProtocolReader = {
  name: 'http',
  create(options, env, ctx) {
    const cfg = ctx.service.config;
    const o = (cfg['options'] ?? {}) as Record<string, unknown>;
    const hooks = new WeakMap<Socket, ConnectionHooks>();
    const maxHeader = o['maxHeaderSize'] === undefined ? DEFAULT_MAX_HEADER : parseSize(o['maxHeaderSize'] as string | number);
    const rc: ReaderContext = {
      server: parserServer(maxHeader, hooks),
      hooks,
      responder: httpResponder(o['userAuth'] === 'never'),
      upstream: createUpstream(env, upstreamOptions(cfg, ctx.service.name)),
      ftp: ftpContext(env, ctx, parseDuration((o['responseTimeout'] as string | undefined) ?? '60s')),
      handshakeMs: options.handshakeTimeoutMs,
      requireUser: o['userAuth'] === 'required',
      parseError,
    };
    return (first) => new Observable<Session>((sub) => new ConnectionReader(rc, first, sub).start());
  },
};

protocolReaders.register('http', httpReader);
