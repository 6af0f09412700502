/**
 * How the HTTP proxy answers: errors as a small HTTP/1.0 page naming the error code (then the
 * connection closes, as 3proxy does), `200 Connection established` for CONNECT, and for
 * Upgrade tunnels the request head handed to the target as the first bytes.
 */
import { STATUS_CODES } from 'node:http';
import type { ProxyError } from '../../core/errors';
import type { Responder, Session } from '../../core/session';
import { HEADERS_KEY, TUNNEL_KEY } from '../filterHeaders';
import type { Header } from '../filterHeaders/headers';
import { ANSWERED_KEY, TARGET_KEY, UPGRADE_HEAD_KEY, type HttpTarget } from './http-request';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ESCAPES[c]!);

/** The status for an error: 3proxy's mapping; 407 becomes 403 when auth is never asked (-u). */
export function statusFor(err: ProxyError, neverAskAuth: boolean): number {
  if (err.httpStatus === 407 && neverAskAuth) return 403;
  // A client too slow to send its request gets the HTTP answer for that, not a generic 500.
  if (err.code === 'PRX_ERR_REQUEST_TIMEOUT') return 408;
  return err.httpStatus;
}

/** The whole error response as bytes (status line, headers, HTML page). */
export function errorResponse(err: ProxyError, neverAskAuth: boolean, realm = 'proxy'): Buffer {
  const status = statusFor(err, neverAskAuth);
  const reason = STATUS_CODES[status] ?? 'Error';
  const title = `${status} ${reason}`;
  const body = Buffer.from(
    `<html><head><title>${title}</title></head><body><h2>${title}</h2>` +
      `<p>${escapeHtml(err.message)}</p><p>${err.code} (${err.legacyCode})</p></body></html>\r\n`,
  );
  // 401 only comes from an FTP server refusing the login (ftp:// URLs): browsers then ask.
  const auth = status === 407 ? `Proxy-Authenticate: Basic realm="${realm}"\r\n` : status === 401 ? 'WWW-Authenticate: Basic realm="FTP Server"\r\n' : '';
  const head =
    `HTTP/1.0 ${title}\r\n${auth}Connection: close\r\nProxy-Connection: close\r\n` +
    `Content-Type: text/html; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** The request head of an Upgrade request as it goes to the target (origin form, filtered headers). */
export function upgradeHead(session: Session): Buffer {
  const req = session.httpRequest;
  const target = session.state.get(TARGET_KEY) as HttpTarget | undefined;
  const headers = (session.state.get(HEADERS_KEY) as Header[] | undefined) ?? [];
  let text = `${req?.method ?? 'GET'} ${target?.path ?? '/'} HTTP/${req?.httpVersion ?? '1.1'}\r\n`;
  for (const [n, v] of headers) text += `${n}: ${v}\r\n`;
  const rest = session.state.get(UPGRADE_HEAD_KEY) as Buffer | undefined;
  const head = Buffer.from(`${text}\r\n`, 'latin1');
  return rest === undefined || rest.length === 0 ? head : Buffer.concat([head, rest]);
}

const ESTABLISHED = Buffer.from('HTTP/1.0 200 Connection established\r\n\r\n', 'latin1');

export function httpResponder(neverAskAuth: boolean): Responder {
  return {
    fail(session, err) {
      const socket = session.connection.socket;
      if (socket.destroyed) return;
      // HANDLED: a plugin filter wrote its own answer; let it reach the client, then close.
      if (err.code === 'PRX_ERR_FILTER_HANDLED') return void socket.end();
      const started = session.state.get(ANSWERED_KEY) === true || session.httpResponse?.headersSent === true;
      if (started || !socket.writable) {
        socket.destroy();
        return;
      }
      session.state.set(ANSWERED_KEY, true);
      socket.end(errorResponse(err, neverAskAuth));
    },
    connected(session) {
      if (session.state.get(TUNNEL_KEY) === true) {
        // The target's own 101 answers the client; our part is to send it the request.
        session.head = upgradeHead(session);
        return;
      }
      session.state.set(ANSWERED_KEY, true);
      session.connection.socket.write(ESTABLISHED);
    },
  };
}
