/**
 * Sessions for parsed HTTP requests: RequestInfo (host, port, operation, %T), credentials from
 * Proxy-Authorization, and the state the HTTP relay and filterHeaders read.
 */
import type { IncomingMessage } from 'node:http';
import { Session, type Operation, type RequestInfo, type Responder } from '../../core/session';
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
  let target = tunnel === undefined ? targetOf(req) : tunnelTarget(req, tunnel);
  const ftp = !(target instanceof ProxyError) && target.ftp !== undefined;
  if (ftp && upgradeHead !== undefined) target = proxyError('PRX_ERR_HTTP_BAD_REQUEST', 'Upgrade of an ftp:// URL');
  const t = target instanceof ProxyError ? null : target;
  const info: RequestInfo = {
    protocol: 'http',
    operation: ftp ? ftpOperation(method) : operationOf(method),
    host: t?.host ?? '',
    port: t?.port ?? 0,
    address: t === null ? null : addressOf(t.host),
    // Inside a tunnel the log shows the whole https:// URL, not the bare path the client sent;
    // 3proxy logs ftp:// request lines without the credentials.
    text: (tunnel !== undefined || ftp) && t !== null ? `${method} ${t.absolute} HTTP/${req.httpVersion}` : requestLine(req),
    method,
    url: tunnel !== undefined && t !== null ? t.absolute : (req.url ?? ''),
  };
  const s = new Session(first.connection, first.service, info, responder);
  s.httpRequest = req;
  s.relayMode = ftp ? 'ftp-http' : upgradeHead === undefined ? 'http' : 'stream';
  if (ftp && t !== null && ftpOperation(method) === 'HTTP_OTHER') target = proxyError('PRX_ERR_NOT_IMPLEMENTED', `${method.slice(0, 20)} on ftp:// (GET, HEAD and PUT are)`);
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
  if (target instanceof ProxyError) s.error = target;
  else s.state.set(TARGET_KEY, target);
  return s;
}

/** 3proxy: GET becomes FTP_GET and PUT FTP_PUT for ftp:// URLs (HEAD reads like a GET). */
function ftpOperation(method: string): Operation {
  if (method === 'GET' || method === 'HEAD') return 'FTP_GET';
  if (method === 'PUT') return 'FTP_PUT';
  return 'HTTP_OTHER';
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
