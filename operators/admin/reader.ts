/**
 * `readRequest{protocol: admin}`: the admin service's HTTP reader (3proxy's adminchild).
 *
 *   one http.Server per service, never listening; each client socket is handed to it with
 *   emit('connection'), and every request on it becomes a Session:
 *     operation ADMIN, host = the path, user/password from `Authorization: Basic`
 *     (so `authenticate`/`authorize` run on it as on any proxy request)
 *   parse errors -> an errored Session (400 / 431), logged and answered by the pipeline
 *   the socket closes -> the stream completes (keep-alive: requests queue in concatMap)
 *
 * The responder answers failures in HTTP: auth failures are 401 with `WWW-Authenticate`
 * (an origin server's challenge, where the proxy sends 407), the ACL's refusal 403.
 */
import { Observable } from 'rxjs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Session, type Responder } from '../../core/session';
import type { ProxyError } from '../../core/errors';
import { protocolReaders, type ProtocolReader } from '../readRequest/protocols';
import { parseError } from '../readRequest/http';
import { statusFor } from '../readRequest/http-responder';

export const ADMIN_REALM = 'rx3proxy admin';

interface AdminHooks {
  request(req: IncomingMessage, res: ServerResponse): void;
  clientError(err: NodeJS.ErrnoException): void;
}

function parserServer(hooks: WeakMap<Socket, AdminHooks>): Server {
  const server = createServer({ maxHeaderSize: 16 * 1024, requireHostHeader: false, keepAliveTimeout: 0 });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => hooks.get(req.socket)?.request(req, res));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const h = hooks.get(socket);
    if (h === undefined) socket.destroy();
    else h.clientError(err);
  });
  return server;
}

/** `Authorization: Basic` -> [user, password]; anything else -> null (the auth chain decides). */
export function basicCredentials(header: string | undefined): [string, string] | null {
  if (header === undefined) return null;
  const m = /^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return null;
  return [text.slice(0, i), text.slice(i + 1)];
}

/** The status of a failure as an origin server says it: the proxy's 407 is a 401 here. */
export function adminStatus(err: ProxyError): number {
  const status = statusFor(err, false);
  return status === 407 ? 401 : status;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const text = Buffer.from(JSON.stringify(body, null, 2) + '\n');
  return sendBody(res, status, text, { 'content-type': 'application/json; charset=utf-8', ...headers });
}

/** Writes a complete response; resolves with the body size once it is handed to the socket. */
export function sendBody(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    if (res.headersSent || res.destroyed) {
      resolve(0);
      return;
    }
    res.writeHead(status, { ...headers, 'content-length': String(body.length), 'cache-control': 'no-store' });
    res.once('close', () => resolve(body.length));
    res.end(body, () => resolve(body.length));
  });
}

export const adminResponder: Responder = {
  async fail(session, err) {
    const res = session.httpResponse;
    if (res === null || res.headersSent) {
      session.connection.socket.destroy();
      return;
    }
    const status = adminStatus(err);
    const headers: Record<string, string> = { connection: 'close' };
    if (status === 401) headers['www-authenticate'] = `Basic realm="${ADMIN_REALM}", charset="UTF-8"`;
    await sendJson(res, status, { error: err.code, message: err.message }, headers);
  },
  connected() {},
};

function requestSession(first: Session, req: IncomingMessage, res: ServerResponse): Session {
  const url = req.url ?? '/';
  const path = url.split('?')[0] ?? '/';
  const method = req.method ?? 'GET';
  const s = new Session(
    first.connection,
    first.service,
    { protocol: 'admin', operation: 'ADMIN', host: '', port: first.connection.localPort, address: null, text: `${method} ${path}`, method, url },
    adminResponder,
  );
  s.relayMode = 'none';
  s.httpRequest = req;
  s.httpResponse = res;
  const creds = basicCredentials(req.headers.authorization);
  if (creds !== null) [s.user, s.password] = creds;
  return s;
}

export const adminReader: ProtocolReader = {
  name: 'admin',
  create(options) {
    const hooks = new WeakMap<Socket, AdminHooks>();
    const server = parserServer(hooks);
    const idleMs = options.handshakeTimeoutMs;
    return (first) =>
      new Observable<Session>((sub) => {
        const socket = first.connection.socket;
        const onClose = (): void => sub.complete();
        // An admin client that sends nothing for the handshake time is closed, as the proxy does.
        const onIdle = (): void => {
          socket.destroy();
        };
        hooks.set(socket, {
          request: (req, res) => sub.next(requestSession(first, req, res)),
          clientError: (err) => {
            if (err.code === 'ECONNRESET' || !socket.writable) {
              socket.destroy();
              return;
            }
            const s = new Session(first.connection, first.service, { protocol: 'admin', operation: 'ADMIN', host: '', port: 0, address: null, text: '', method: '', url: '' }, adminResponder);
            s.error = parseError(err);
            // No ServerResponse exists for an unparsable request: the responder closes the socket.
            sub.next(s);
          },
        });
        socket.once('close', onClose);
        if (idleMs > 0) {
          socket.setTimeout(idleMs);
          socket.on('timeout', onIdle);
        }
        server.emit('connection', socket);
        return () => {
          hooks.delete(socket);
          socket.removeListener('close', onClose);
          socket.removeListener('timeout', onIdle);
        };
      });
  },
};

protocolReaders.register('admin', adminReader);
