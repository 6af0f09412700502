/**
 * Sessions for parsed HTTP requests: RequestInfo (host, port, operation, %T), credentials from
 * Proxy-Authorization, and the state the HTTP relay and filterHeaders read.
 */
import type { IncomingMessage } from 'node:http';
import { Session, type RequestInfo, type Responder } from '../../core/session';
import { ProxyError, proxyError } from '../../core/errors';
import { HEADERS_KEY, TUNNEL_KEY } from '../filterHeaders';
import { fromRaw } from '../filterHeaders/headers';
import { UPSTREAM_KEY, type HttpUpstream } from '../mapSockets/http-upstream';
import { TARGET_KEY, UPGRADE_HEAD_KEY, addressOf, basicCredentials, operationOf, splitHostPort, targetOf } from './http-request';
import { MITM_KEY, tunnelTarget, type MitmTunnel } from './http-mitm';

function requestLine(req: IncomingMessage): string {
  return `${req.method ?? ''} ${req.url ?? ''} HTTP/${req.httpVersion}`;
}

function takeCredentials(session: Session, req: IncomingMessage): void {
  const cred = basicCredentials(req.headers['proxy-authorization']);
  if (cred === null) return;
  session.user = cred.user;
  session.password = cred.password;
}

/**
 * A forward (or transparent) request; with `upgradeHead` an Upgrade (WebSocket) request that
 * is relayed as a tunnel through connect + the stream relay.
 */
export function buildSession(first: Session, req: IncomingMessage, responder: Responder, upstream: HttpUpstream, upgradeHead?: Buffer): Session {
  const method = req.method ?? '';
  const tunnel = first.state.get(MITM_KEY) as MitmTunnel | undefined;
  const target = tunnel === undefined ? targetOf(req) : tunnelTarget(req, tunnel);
  const ok = !(target instanceof ProxyError);
  const info: RequestInfo = {
    protocol: 'http',
    operation: operationOf(method),
    host: ok ? target.host : '',
    port: ok ? target.port : 0,
    address: ok ? addressOf(target.host) : null,
    // Inside a tunnel the log shows the whole https:// URL, not the bare path the client sent.
    text: tunnel !== undefined && ok ? `${method} ${target.absolute} HTTP/${req.httpVersion}` : requestLine(req),
    method,
    url: tunnel !== undefined && ok ? target.absolute : (req.url ?? ''),
  };
  const s = new Session(first.connection, first.service, info, responder);
  s.httpRequest = req;
  s.relayMode = upgradeHead === undefined ? 'http' : 'stream';
  takeCredentials(s, req);
  if (tunnel !== undefined) {
    s.state.set(MITM_KEY, tunnel);
    if (s.user === null) {
      s.user = tunnel.user;
      s.password = tunnel.password;
    }
  }
  s.state.set(HEADERS_KEY, fromRaw(req.rawHeaders));
  s.state.set(UPSTREAM_KEY, tunnel?.upstream ?? upstream);
  if (upgradeHead !== undefined) {
    s.state.set(TUNNEL_KEY, true);
    s.state.set(UPGRADE_HEAD_KEY, upgradeHead);
  }
  if (ok) s.state.set(TARGET_KEY, target);
  else s.error = target;
  return s;
}

/** `CONNECT host:port`: a tunnel; bytes read past the head go to the target first. */
export function connectSession(first: Session, req: IncomingMessage, head: Buffer, responder: Responder): Session {
  const hp = splitHostPort(req.url ?? '', 0);
  const info: RequestInfo = {
    protocol: 'http',
    operation: 'HTTP_CONNECT',
    host: hp?.host ?? '',
    port: hp?.port ?? 0,
    address: hp === null ? null : addressOf(hp.host),
    text: requestLine(req),
    method: 'CONNECT',
    url: req.url ?? '',
  };
  const s = new Session(first.connection, first.service, info, responder);
  s.httpRequest = req;
  s.relayMode = 'stream';
  s.head = head.length > 0 ? head : null;
  takeCredentials(s, req);
  if (hp === null || hp.port === 0) s.error = proxyError('PRX_ERR_HTTP_BAD_URL', (req.url ?? '').slice(0, 200));
  return s;
}
