/**
 * Requests read inside an intercepted CONNECT tunnel (operators/mitm): the target is the
 * tunnel's host and port whatever the request says, the scheme is https, and the client's
 * credentials are those it gave on the CONNECT (browsers send Proxy-Authorization only there).
 *
 *   GET /p            -> https://host[:port]/p
 *   GET https://h/p   -> the same, when h is the tunnel's host (else 400)
 *   anything else     -> 400
 */
import type { IncomingMessage } from 'node:http';
import { proxyError, type ProxyError } from '../../core/errors';
import type { HttpUpstream } from '../mapSockets/http-upstream';
import type { HttpTarget } from './http-request';

/** session.state key of the MitmTunnel, on the inner connection's first session and every inner request. */
export const MITM_KEY = 'mitm.tunnel';

export interface MitmTunnel {
  /** The CONNECT target: every inner request goes there. */
  readonly host: string;
  readonly port: number;
  /** Name the client asked for in its ClientHello (SNI), else the CONNECT host: what the origin must prove. */
  readonly servername: string;
  /** The TLS upstream pool (verification as the service's mitm.origin says). */
  readonly upstream: HttpUpstream;
  readonly user: string | null;
  readonly password: string | null;
}

function authority(t: MitmTunnel): string {
  const h = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.port === 443 ? h : `${h}:${t.port}`;
}

export function tunnelTarget(req: IncomingMessage, t: MitmTunnel): HttpTarget | ProxyError {
  const url = req.url ?? '';
  let path: string;
  if (url.startsWith('/')) path = url;
  else if (/^https:\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
    }
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const port = u.port === '' ? 443 : Number(u.port);
    if (host !== t.host.toLowerCase() || port !== t.port) return proxyError('PRX_ERR_HTTP_BAD_URL', `${url.slice(0, 200)} is not ${authority(t)} (the intercepted tunnel)`);
    path = `${u.pathname}${u.search}`;
  } else return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
  return { host: t.host, port: t.port, path, absolute: `https://${authority(t)}${path}` };
}
