/**
 * `socks`: SOCKS 4, 4a and 5 (3proxy `socks`). Reads the greeting and the request with
 * SocksParser, answers the method selection and the RFC 1929 sub-negotiation itself (always
 * "success": the real check is the auth chain), and emits ONE request Session:
 *
 *   CONNECT  -> relayMode 'stream'     (connect dials; responder.connected sends the reply)
 *   BIND     -> relayMode 'socks-bind' (mapSockets listens, sends both replies, relays)
 *   UDPASSOC -> relayMode 'socks-udp'  (mapSockets runs the datagram relay)
 *
 * A greeting that cannot be parsed, a timeout or an early close is emitted as a Session with
 * `error` set, so it is logged with its code and answered (or just closed).
 */
import { Observable } from 'rxjs';
import { isIP } from 'node:net';
import { Session, emptyRequest, type Operation, type Responder } from '../../core/session';
import { proxyError, type ErrorCode, type ProxyError } from '../../core/errors';
import { parseDuration } from '../../config/units';
import type { Env } from '../../core/env';
import type { OperatorContext } from '../../core/operator';
import { protocolReaders, type ProtocolReader, type ReadRequestOptions } from './protocols';
import { SocksParser, type SocksRequest, type UserAuthPolicy } from './socks-parse';
import { socksResponder } from './socks-reply';
import { serviceAcl } from '../authorize/service-acl';
import { serviceSource, type SourceChooser } from '../../core/net/egress';

/** What the BIND relay needs (kept in session.state under BIND_KEY). */
export interface SocksBindSettings {
  readonly acceptTimeoutMs: number;
  readonly natAddress: string | null;
  readonly externals: readonly string[];
  readonly resolve: Env['resolver'];
}

/** What the UDP ASSOCIATE relay needs (kept in session.state under UDP_KEY). */
export interface SocksUdpSettings {
  readonly udpNatAddress: string | null;
  /** 3proxy -U: 3 log+reauthorize (default), 2 reauthorize, 1 log, 0 first destination only. */
  readonly recheck: number;
  readonly idleMs: number;
  readonly env: Env;
  readonly ctx: OperatorContext;
  /** Source address for the relay's remote-side sockets (core/net/egress.ts serviceSource). */
  readonly source?: SourceChooser;
}

export const BIND_KEY = 'socks.bind';
export const UDP_KEY = 'socks.udp';

interface SocksSettings {
  readonly userAuth: UserAuthPolicy;
  readonly natAddress: string | null;
  readonly handshakeMs: number;
  readonly bind: SocksBindSettings;
  readonly udp: SocksUdpSettings;
  /** socksResponder(version, stage, natAddress), made once per service: responders keep no per-session state. */
  readonly responders: Readonly<Record<`${0 | 4 | 5}:${'greeting' | 'request'}`, Responder>>;
}

function settings(options: ReadRequestOptions, env: Env, ctx: OperatorContext): SocksSettings {
  const cfg = ctx.service.config;
  const o = (cfg['options'] ?? {}) as Record<string, unknown>;
  const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
  const ext = cfg['external'];
  const natAddress = typeof o['natAddress'] === 'string' ? o['natAddress'] : null;
  serviceAcl(ctx.service); // compile now: a bad ACL fails at startup, not on the first datagram
  const responders = {} as Record<`${0 | 4 | 5}:${'greeting' | 'request'}`, Responder>;
  for (const v of [0, 4, 5] as const) for (const stage of ['greeting', 'request'] as const) responders[`${v}:${stage}`] = socksResponder(v, stage, natAddress);
  return {
    responders,
    userAuth: (o['userAuth'] as UserAuthPolicy | undefined) ?? 'auto',
    natAddress,
    handshakeMs: options.handshakeTimeoutMs,
    bind: {
      acceptTimeoutMs: parseDuration(timeouts['connect'] ?? '15s'),
      natAddress,
      externals: Array.isArray(ext) ? (ext as string[]) : typeof ext === 'string' ? [ext] : [],
      resolve: env.resolver,
    },
    udp: {
      udpNatAddress: typeof o['udpNatAddress'] === 'string' ? o['udpNatAddress'] : null,
      recheck: typeof o['udpRecheck'] === 'number' ? o['udpRecheck'] : 3,
      idleMs: parseDuration(timeouts['idle'] ?? '10m'),
      env,
      ctx,
      source: serviceSource(ctx.service.config, ctx.service.name),
    },
  };
}

const RELAY_MODES = { CONNECT: 'stream', BIND: 'socks-bind', UDPASSOC: 'socks-udp' } as const;

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Builds the request Session for a parsed request. */
function requestSession(first: Session, s: SocksSettings, r: SocksRequest, creds: { user: string | null; password: string | null }): Session {
  const op: Operation = r.command;
  const text = `${op} ${hostPort(r.host, r.port)}`;
  const session = new Session(
    first.connection,
    first.service,
    { protocol: r.version === 4 ? 'socks4' : 'socks5', operation: op, host: r.host, port: r.port, address: r.address, text, method: '', url: '' },
    s.responders[`${r.version}:request`],
  );
  session.user = r.version === 4 ? (r.userId === '' ? null : r.userId) : creds.user;
  session.password = r.version === 4 ? null : creds.password;
  session.relayMode = RELAY_MODES[r.command];
  if (r.command === 'BIND') session.state.set(BIND_KEY, s.bind);
  if (r.command === 'UDPASSOC') session.state.set(UDP_KEY, s.udp);
  return session;
}

/** A request that could not be read: logged and answered through the pipeline. */
function erroredSession(first: Session, version: 0 | 4 | 5, stage: 'greeting' | 'request', err: ProxyError, s: SocksSettings): Session {
  const protocol = version === 0 ? 'socks' : `socks${version}`;
  const session = new Session(first.connection, first.service, emptyRequest(protocol), s.responders[`${version}:${stage}`]);
  session.error = err;
  return session;
}

/** Never written to: feed() only reads it. */
const NO_BYTES = Buffer.alloc(0);
/** Method selection "no authentication", the usual answer (sockets never modify written buffers). */
const METHOD_NONE = Buffer.from([5, 0]);
const AUTH_OK = [1, 0];

/** Reads one SOCKS request from the connection. */
function readSocks(first: Session, s: SocksSettings): Observable<Session> {
  return new Observable<Session>((sub) => {
    const socket = first.connection.socket;
    const parser = new SocksParser(s.userAuth);
    const creds: { user: string | null; password: string | null } = { user: null, password: null };
    let received = 0;
    let done = false;
    const finish = (session: Session): void => {
      if (done) return;
      done = true;
      cleanup();
      sub.next(session);
      sub.complete();
    };
    const failWith = (code: ErrorCode, stage: 'greeting' | 'request', ...args: string[]): void =>
      finish(erroredSession(first, parser.version, stage, proxyError(code, ...args), s));
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      for (let ev = parser.feed(chunk); ; ev = parser.feed(NO_BYTES)) {
        if (ev.kind === 'need') return;
        if (ev.kind === 'method') {
          socket.write(ev.method === 0 ? METHOD_NONE : Buffer.from([5, ev.method]));
          if (ev.method === 0xff) return failWith('PRX_ERR_SOCKS_NO_METHOD', 'greeting');
        } else if (ev.kind === 'credentials') {
          creds.user = ev.user;
          creds.password = ev.password;
          socket.write(Buffer.from(AUTH_OK));
        } else if (ev.kind === 'error') {
          // Request-level errors (command, address type, empty name) get a reply; greeting ones close.
          const stage = isRequestError(ev.code) ? 'request' : 'greeting';
          return failWith(ev.code, stage, ev.arg);
        } else {
          socket.pause();
          const session = requestSession(first, s, ev.request, creds);
          if (ev.rest.length > 0) session.head = ev.rest;
          return finish(session);
        }
      }
    };
    const onEnd = (): void => failWith(received === 0 ? 'PRX_ERR_REQUEST_EMPTY' : 'PRX_ERR_SOCKS_TRUNCATED', 'greeting');
    const timer = setTimeout(() => failWith('PRX_ERR_REQUEST_TIMEOUT', 'greeting'), s.handshakeMs);
    function cleanup(): void {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.resume();
    return () => {
      if (!done) {
        done = true;
        cleanup();
      }
    };
  });
}

function isRequestError(code: ErrorCode): boolean {
  return code === 'PRX_ERR_SOCKS_COMMAND' || code === 'PRX_ERR_SOCKS_ADDRESS_TYPE' || code === 'PRX_ERR_SOCKS_BAD_NAME';
}

export const socksReader: ProtocolReader = {
  name: 'socks',
  create(options, env, ctx) {
    const s = settings(options, env, ctx);
    return (first) => readSocks(first, s);
  },
};

protocolReaders.register('socks', socksReader);
