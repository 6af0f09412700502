/**
 * From a parsed HTTP request (node:http's llhttp) to what the pipeline needs: the target
 * host/port, the 3proxy operation, the upstream path, and Basic proxy credentials.
 *
 *   CONNECT host:port           -> HTTP_CONNECT, tunnel
 *   GET http://host[:port]/p    -> absolute form (forward proxy)
 *   GET /p + Host: host[:port]  -> origin form (transparent use)
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { proxyError, type ProxyError } from '../../core/errors';
import type { Operation } from '../../core/session';

/** session.state key: `HttpTarget` of a non-CONNECT request. */
export const TARGET_KEY = 'http.target';
/** session.state key: true once a status line was sent to the client (errors then just close). */
export const ANSWERED_KEY = 'http.answered';
/** session.state key: bytes the parser read past an Upgrade request's head. */
export const UPGRADE_HEAD_KEY = 'http.upgradeHead';

export interface HttpTarget {
  readonly host: string;
  readonly port: number;
  /** Origin-form path with query (`/a?b`). */
  readonly path: string;
  /** Absolute URI (for HTTP parents and the log); for ftp:// without the credentials. */
  readonly absolute: string;
  /** ftp:// URLs: the decoded path and the URL's credentials (null: none given). */
  readonly ftp?: { readonly path: string; readonly user: string | null; readonly password: string | null };
}

const METHOD_OPS: Record<string, Operation> = {
  GET: 'HTTP_GET',
  POST: 'HTTP_POST',
  BITS_POST: 'HTTP_POST',
  PUT: 'HTTP_PUT',
  HEAD: 'HTTP_HEAD',
  CONNECT: 'HTTP_CONNECT',
};

export function operationOf(method: string): Operation {
  return METHOD_OPS[method] ?? 'HTTP_OTHER';
}

/** `host:port` / `[v6]:port` / `host` (default port); null when malformed. */
export function splitHostPort(text: string, defaultPort: number): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/\s]+))(?::(\d{1,5}))?$/.exec(text);
  if (m === null) return null;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * `http://host[:port]/path[?query]` that WHATWG URL parsing would return unchanged: a lower-case
 * DNS name, no userinfo, no fragment, no percent-escapes, no character URL would encode and no
 * dot segment. Anything else (IPv4 shorthand, upper case, IDNA, `..`, odd ports) goes to URL.
 */
const PLAIN_HTTP_URL = /^http:\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?(\/[A-Za-z0-9\-._~!$&()*+,;=:@/]*)(\?[A-Za-z0-9\-._~!$&()*+,;=:@/?]+)?$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
/** A last label URL would read as a number (WHATWG "ends in a number"). */
const NUMERIC_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** The common absolute-form request without building a URL; null when URL has to decide. */
function plainHttpTarget(url: string): HttpTarget | null {
  const m = PLAIN_HTTP_URL.exec(url);
  if (m === null) return null;
  const host = m[1]!;
  const path = m[3]!;
  if (NUMERIC_LABEL.test(host) && !DOTTED_QUAD.test(host)) return null;
  if (host.includes('xn--') || DOT_SEGMENT.test(path)) return null;
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port > 65535) return null;
  return { host, port, path: m[4] === undefined ? path : path + m[4], absolute: url };
}

/** Where a non-CONNECT request goes, or why it cannot be served. */
export function targetOf(req: IncomingMessage): HttpTarget | ProxyError {
  const url = req.url ?? '';
  if (url.startsWith('http://')) {
    const plain = plainHttpTarget(url);
    if (plain !== null) return plain;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
    }
    if (u.protocol === 'ftp:') return ftpTarget(u, url);
    if (u.protocol !== 'http:') return proxyError('PRX_ERR_HTTP_UNSUPPORTED_SCHEME', u.protocol.slice(0, -1));
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    if (host === '') return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
    const port = u.port === '' ? 80 : Number(u.port);
    return { host, port, path: `${u.pathname}${u.search}`, absolute: url };
  }
  if (!url.startsWith('/')) return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
  const hostHeader = req.headers.host;
  const hp = hostHeader === undefined ? null : splitHostPort(hostHeader, 80);
  if (hp === null) return proxyError('PRX_ERR_HTTP_BAD_URL', `${url.slice(0, 200)} without a valid Host header`);
  const authority = hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
  return { host: hp.host, port: hp.port, path: url, absolute: `http://${authority}${url}` };
}

/** `ftp://[user[:pass]@]host[:port]/path`: the target the FTP fetch uses (operators/mapSockets/ftp-http). */
function ftpTarget(u: URL, url: string): HttpTarget | ProxyError {
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  let path: string;
  let user: string | null;
  let password: string | null;
  try {
    path = decodeURIComponent(u.pathname);
    user = u.username === '' ? null : decodeURIComponent(u.username);
    password = u.password === '' ? null : decodeURIComponent(u.password);
  } catch {
    return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
  }
  if (host === '' || /[\r\n]/.test(path)) return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
  const port = u.port === '' ? 21 : Number(u.port);
  u.username = '';
  u.password = '';
  return { host, port, path: u.pathname, absolute: u.href, ftp: { path, user, password } };
}

/** The address part of RequestInfo: the host when it is a literal address. */
export function addressOf(host: string): string | null {
  return isIP(host) !== 0 ? host : null;
}

/** `Proxy-Authorization: Basic b64(user:pass)` -> credentials; null when absent or another scheme. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  if (header === undefined) return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return { user: text, password: '' };
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}
