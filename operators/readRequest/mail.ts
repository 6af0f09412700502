/**
 * What the mail gateways (pop3p, smtpp, imapp) and ftppr share: 3proxy's `user@host[:port]` login
 * parsing (parseconnusername), a line-oriented dialog with the client before the server is
 * known, and the skeleton of a reader whose responder replays the login to the server.
 *
 *   client dialog (greeting, CAPA/EHLO/CAPABILITY answered by the proxy, login read)
 *     -> request Session {host, port from the login; user/password = proxy credentials}
 *     -> authenticate, authorize, connect
 *     -> responder.connected: read the server's greeting, log in with the real user name
 *     -> mapSockets relays: the server's answer to the login is the client's answer
 *
 * Unless `noStarttls` (-x), the proxy offers STARTTLS/STLS; a client that takes it is told to
 * go ahead and the connection is handed to tlspr's logic (`tlsHandoff`): the ClientHello's SNI
 * names the server (or -h), the server side is upgraded with its own STARTTLS, and TLS runs
 * end to end between the client and the server. The login then happens inside TLS, unseen.
 *
 * The dialog runs under the handshake timeout; a failed dialog is emitted as a Session with
 * `error` set so it is logged and answered in the protocol's own form.
 */
import { Observable } from 'rxjs';
import { isIP } from 'node:net';
import { Session, emptyRequest, type Responder } from '../../core/session';
import type { Env } from '../../core/env';
import type { OperatorContext } from '../../core/operator';
import { proxyError, toProxyError, type ErrorCode, type ProxyError } from '../../core/errors';
import { LineIo, withDeadline } from './line-io';
import type { ProtocolReader, ReadRequestOptions } from './protocols';

export { LineIo, withDeadline };
import { tlsHandoff } from './tls';

/** The type's `options:` (services/pop3p.yaml, smtpp.yaml, imapp.yaml). */
export interface MailOptions {
  /** 3proxy -h: the server when the login names none. */
  readonly defaultHost?: string;
  /** 3proxy -x: do not offer STARTTLS/STLS (and refuse it). */
  readonly noStarttls?: boolean;
  /** 3proxy -P: the server port after a STARTTLS hand-off (default the protocol's). */
  readonly tlsPort?: number;
  readonly userAuth?: 'auto' | 'never' | 'required';
}

/** A login split the way 3proxy's parseconnusername does it. */
export interface ConnUser {
  /** `proxyuser:proxypass:` prefix: the credentials the auth chain checks. */
  readonly proxyUser: string | null;
  readonly proxyPassword: string | null;
  /** The name the server gets. */
  readonly user: string;
  readonly host: string;
  readonly port: number;
}

/** `host`, `host:port` or `[v6]:port`; null when the host is empty or the port is not one. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | null {
  let host = text;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return null;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest !== '') return null;
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  if (host === '' || /\s/.test(host)) return null;
  let port = defaultPort;
  if (portText !== null) {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
    if (port < 1 || port > 65535) return null;
  }
  return { host, port };
}

/**
 * `[proxyuser:proxypass:]user@host[:port]`, split at the LAST `@` (user names may hold one).
 * Without `@` the server is `defaultHost` (-h); without that the login is refused (null).
 * The proxy credentials are only split off when the service asks clients for a user (not -u),
 * as 3proxy's parseusername does with srv->needuser.
 */
export function parseConnUser(
  login: string,
  defaultPort: number,
  o: { readonly defaultHost: string | null; readonly proxyCredentials: boolean },
): ConnUser | null {
  if (login === '') return null;
  const at = login.lastIndexOf('@');
  const server = at >= 0 ? parseHostPort(login.slice(at + 1), defaultPort) : o.defaultHost === null ? null : parseHostPort(o.defaultHost, defaultPort);
  if (server === null) return null;
  let user = at >= 0 ? login.slice(0, at) : login;
  let proxyUser: string | null = null;
  let proxyPassword: string | null = null;
  const c1 = user.indexOf(':');
  const c2 = c1 < 0 ? -1 : user.indexOf(':', c1 + 1);
  if (o.proxyCredentials && c2 >= 0) {
    proxyUser = user.slice(0, c1) || null;
    proxyPassword = user.slice(c1 + 1, c2) || null;
    user = user.slice(c2 + 1);
  }
  if (user === '') return null;
  return { proxyUser, proxyPassword, user, host: server.host, port: server.port };
}

/** `%T` for the gateways, as 3proxy logs it: `user@host`, `:port` only when not the default. */
export function loginText(u: ConnUser, defaultPort: number): string {
  const host = isIP(u.host) === 6 ? `[${u.host}]` : u.host;
  return `${u.user}@${host}${u.port === defaultPort ? '' : `:${u.port}`}`;
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Strict base64 (Buffer.from would silently skip garbage); null when it is not base64. */
export function unb64(s: string): string | null {
  const t = s.trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/.test(t)) return null;
  return Buffer.from(t, 'base64').toString('utf8');
}

/**
 * What a dialog ends with: a login to relay, the client said QUIT/LOGOUT (nothing to log), or
 * it took STARTTLS and was told to go ahead (the TLS hand-off).
 */
export type DialogResult<L> = { kind: 'login'; conn: ConnUser; login: L } | { kind: 'quit' } | { kind: 'starttls' };

/** The parts that differ per protocol. */
export interface MailDialect<L> {
  readonly protocol: 'pop3' | 'smtp' | 'imap' | 'ftp';
  /** Port assumed when the login names none (3proxy's parseconnusername argument). */
  readonly defaultPort: number;
  readonly maxLine: number;
  /** Error when the client goes away during the dialog. */
  readonly clientClosed: ErrorCode;
  /** Error when the server goes away during the replay. */
  readonly serverClosed: ErrorCode;
  /** Error when the server does not finish the login in time (default PRX_ERR_MAIL_UPSTREAM). */
  readonly upstreamError?: ErrorCode;
  /** Talks to the client until it has logged in (or quit). `state` is shared with `reply`. */
  dialog(io: LineIo, state: DialogState, o: Settings): Promise<DialogResult<L>>;
  /** The proxy credentials the auth chain sees (IMAP falls back to the mail password). */
  credentials?(conn: ConnUser, login: L): { user: string | null; password: string | null };
  /** Logs in to the server on `io` (the target); leaves the server's answer to the relay. */
  replay(io: LineIo, session: Session, conn: ConnUser, login: L, state: DialogState): Promise<void>;
  /** The error line for the client, CRLF included. */
  reply(err: ProxyError, state: DialogState): string;
  /** Per service: what a login Session needs besides the request (ftppr: its relay and context). */
  setup?(options: ReadRequestOptions, env: Env, ctx: OperatorContext): (session: Session) => void;
}

/** Per-connection dialog facts the error reply needs (the IMAP tag). */
export interface DialogState {
  tag: string;
}

export interface Settings {
  readonly defaultHost: string | null;
  readonly proxyCredentials: boolean;
  readonly handshakeMs: number;
  /** STARTTLS/STLS is offered and handed to tlspr (not -x). */
  readonly starttls: boolean;
}

const LOGIN_KEY = 'mail.login';

interface Pending<L> {
  readonly conn: ConnUser;
  readonly login: L;
  readonly state: DialogState;
}

function responder<L>(d: MailDialect<L>, state: DialogState, handshakeMs: number): Responder {
  return {
    fail(session, err) {
      const socket = session.connection.socket;
      if (socket.destroyed) return;
      if (socket.writableEnded) {
        socket.destroy();
        return;
      }
      socket.end(d.reply(err, state));
    },
    async connected(session) {
      const target = session.target;
      const pending = session.state.get(LOGIN_KEY) as Pending<L> | undefined;
      if (target === null || pending === undefined) throw proxyError('PRX_ERR_INTERNAL', `${d.protocol}: no login to replay`);
      const io = new LineIo(target, () => proxyError(d.serverClosed), 1024);
      try {
        await withDeadline(d.replay(io, session, pending.conn, pending.login, pending.state), handshakeMs, () =>
          proxyError(d.upstreamError ?? 'PRX_ERR_MAIL_UPSTREAM', `${pending.conn.host}:${pending.conn.port} did not finish the login in time`),
        );
      } finally {
        io.release();
      }
    },
  };
}

/** Builds the protocol reader for one dialect. */
export function mailReader<L>(d: MailDialect<L>): ProtocolReader {
  return {
    name: d.protocol,
    create(options: ReadRequestOptions, env, ctx) {
      const o = (ctx.service.config['options'] ?? {}) as MailOptions;
      const prepare = d.setup?.(options, env, ctx);
      const settings: Settings = {
        defaultHost: typeof o.defaultHost === 'string' && o.defaultHost !== '' ? o.defaultHost : null,
        proxyCredentials: o.userAuth !== 'never',
        handshakeMs: options.handshakeTimeoutMs,
        starttls: o.noStarttls !== true,
      };
      const run = async (first: Session): Promise<Session | null> => {
        const state: DialogState = { tag: '' };
        const answer = responder(d, state, settings.handshakeMs);
        const socket = first.connection.socket;
        const io = new LineIo(socket, () => proxyError(d.clientClosed), d.maxLine);
        let result: DialogResult<L>;
        try {
          result = await withDeadline(d.dialog(io, state, settings), settings.handshakeMs, () => proxyError('PRX_ERR_REQUEST_TIMEOUT'));
        } catch (err) {
          const s = new Session(first.connection, first.service, emptyRequest(d.protocol), answer);
          s.error = toProxyError(err);
          return s;
        } finally {
          io.release();
        }
        if (result.kind === 'quit') {
          socket.end();
          return null;
        }
        if (result.kind === 'starttls') {
          // Not reached for ftppr: it answers AUTH TLS with 534 and never hands a session off.
          if (d.protocol === 'ftp') {
            socket.destroy();
            return null;
          }
          const tlsPort = typeof o.tlsPort === 'number' ? o.tlsPort : null;
          const fallback = settings.defaultHost === null ? null : parseHostPort(settings.defaultHost, tlsPort ?? d.defaultPort);
          return tlsHandoff(first, d.protocol, { defaultHost: fallback, tlsPort, handshakeMs: settings.handshakeMs });
        }
        const { conn, login } = result;
        const s = new Session(
          first.connection,
          first.service,
          {
            protocol: d.protocol,
            operation: 'CONNECT',
            host: conn.host,
            port: conn.port,
            address: isIP(conn.host) !== 0 ? conn.host : null,
            text: loginText(conn, d.defaultPort),
            method: '',
            url: '',
          },
          answer,
        );
        const creds = d.credentials?.(conn, login) ?? { user: conn.proxyUser, password: conn.proxyPassword };
        s.user = creds.user;
        s.password = creds.password;
        s.state.set(LOGIN_KEY, { conn, login, state } satisfies Pending<L>);
        prepare?.(s);
        return s;
      };
      return (first) =>
        new Observable<Session>((sub) => {
          run(first).then(
            (s) => {
              if (s !== null) sub.next(s);
              sub.complete();
            },
            (err: unknown) => sub.error(err),
          );
        });
    },
  };
}

/** `CODE message` text for protocols whose replies carry free text. */
export function errorText(err: ProxyError): string {
  return `${err.message.replace(/[\r\n]+/g, ' ')} (${err.code})`;
}
