/**
 * Upstream side of the HTTP relay, built once per service by the HTTP reader:
 *
 *   direct    keep-alive http.Agent (one pool per host:port:source address) whose sockets come
 *             from env.resolver + env.dialer (family policy, `external`, connect timeout)
 *   http      parent: the same pool, keyed by the parent's host:port (absolute-URI requests)
 *   other     parents: a non-pooling agent whose sockets come from the chain dialer
 *             (env.symbols 'connect.chain'), since a pool key cannot tell two chains apart
 *
 * With the service's `upstreamTls:` (3proxy ssl_cli) direct and chained sockets get a verified
 * TLS layer to the origin (pooled as such: the pool is the service's); an `http` parent is
 * reached in plain text, since it is that parent that connects to the origin.
 *
 *   mitm      (MITM inner requests, createTlsUpstream) the same two agents with TLS on top of
 *             the dialed socket: SNI and verification for the name the client asked for,
 *             pooled per that name
 */
import { Agent, type ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Env } from '../../core/env';
import type { Session } from '../../core/session';
import type { FamilyPolicy } from '../../core/net/resolver';
import { proxyError, proxyErrorFrom, type ProxyError } from '../../core/errors';
import { isOwnListener } from '../../core/net/dialer';
import { interleaveFamilies, raceConnect } from '../../core/net/happy-eyeballs';
import type { ChainDialer } from '../connect';
import { TlsClientError, connectTls, upstreamTls, type TlsClientMaterial } from '../../core/tls-client';
import { MITM_KEY, type MitmTunnel } from '../readRequest/http-mitm';

/** session.state key of the service's HttpUpstream. */
export const UPSTREAM_KEY = 'http.upstream';
/** Request option carrying the session into the agent's createConnection. */
const SESSION_OPTION = 'rx3Session';

export interface HttpUpstreamOptions {
  readonly connectTimeoutMs: number;
  /** Time the upstream has to start answering once the request is sent (504 after). */
  readonly responseTimeoutMs: number;
  readonly family: FamilyPolicy;
  /** Happy Eyeballs attempt delay when the service asks for it (core/net/happy-eyeballs.ts). */
  readonly attemptDelayMs?: number | undefined;
  /** The service's parent back-off (`options.parentBackoff`), if it sets one. */
  readonly backoffMs?: number | undefined;
  /** Source address (egress pool, then `external`) for a connection to an address of `family`. */
  readonly sourceFor?: ((session: Session, family: 4 | 6) => string | undefined) | undefined;
  /** 3proxy -T: Proxy-* headers of responses pass through. */
  readonly passProxyHeaders: boolean;
  /** TLS to the origin (upstreamTls:), or null. */
  readonly tls: TlsClientMaterial | null;
}

export interface HttpUpstream extends HttpUpstreamOptions {
  readonly pool: Agent;
  readonly chainPool: Agent;
  /** Plain-text pool for an `http` parent when `pool` speaks TLS to origins (else `pool`). */
  readonly parentPool: Agent;
  /** Set for intercepted requests (MITM): they go out over TLS with these checks. */
  readonly mitmTls?: TlsUpstreamOptions;
}

/** TLS towards origins for intercepted requests. */
export interface TlsUpstreamOptions {
  /** Verify the certificate chain and the name (default on; off only by explicit config). */
  readonly verify: boolean;
  /** PEM CA(s) trusted instead of Node's public roots; null = the public roots. */
  readonly ca: string | null;
}

/** How long an idle upstream connection stays in the pool. */
const FREE_SOCKET_TIMEOUT_MS = 30_000;

type Dial = (options: ClientRequestArgs, session: Session) => Promise<Socket>;
/** Request option carrying the TLS server name into the agent (pool key and SNI). */
const SERVERNAME_OPTION = 'rx3Servername';

/** An Agent whose sockets are opened by our dialers (async createConnection, Node's callback form). */
class DialingAgent extends Agent {
  constructor(
    keepAlive: boolean,
    private readonly dialFn: Dial,
    /** Pooled TLS sockets were verified for one name: the pool key must carry it. */
    private readonly byName = false,
  ) {
    // timeout: idle pooled sockets are closed after a while (the Agent destroys free sockets on it).
    super({ keepAlive, scheduling: 'lifo', timeout: FREE_SOCKET_TIMEOUT_MS });
  }

  override getName(options?: ClientRequestArgs): string {
    const name = super.getName(options);
    if (!this.byName || options === undefined) return name;
    const session = (options as Record<string, unknown>)[SESSION_OPTION] as Session | undefined;
    return session === undefined ? name : `${name}:${session.request.host}`;
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const session = (options as Record<string, unknown>)[SESSION_OPTION] as Session;
    this.dialFn(options, session).then(
      (socket) => callback?.(null, socket),
      (err: unknown) => callback?.(err as Error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** The server name a TLS request option carries ('' when none). */
function serverName(options: ClientRequestArgs | undefined): string {
  const v = (options as Record<string, unknown> | undefined)?.[SERVERNAME_OPTION];
  return typeof v === 'string' ? v : '';
}

/** Pools TLS connections per host:port and server name: one name's connection never serves another. */
class TlsDialingAgent extends DialingAgent {
  override getName(options?: ClientRequestArgs): string {
    return `${super.getName(options)}:tls:${serverName(options)}`;
  }
}

/**
 * TLS client handshake on a dialed socket (core/tls-client's, as for upstreamTls and TLS
 * parents): resolves when the origin is verified (or verification is off), rejects with
 * PRX_ERR_MITM_ORIGIN_VERIFY / _HANDSHAKE; both sockets are destroyed on failure, on timeout,
 * and when the session ends first.
 */
async function startTls(raw: Socket, name: string, m: TlsClientMaterial, timeoutMs: number, session: Session): Promise<Socket> {
  try {
    return await connectTls(raw, m, { host: name, timeoutMs, signal: session.abort.signal });
  } catch (err) {
    if (!(err instanceof TlsClientError)) throw err;
    throw proxyErrorFrom(err.kind === 'verify' ? 'PRX_ERR_MITM_ORIGIN_VERIFY' : 'PRX_ERR_MITM_ORIGIN_HANDSHAKE', err, `${err.reason} for ${name}`);
  }
}

/**
 * Resolves and dials like the connect step (addresses in policy order until one connects).
 * Literal addresses take no AbortSignal (no AbortController per upstream connection): a socket
 * still connecting when the session ends is destroyed then, which cancels the dial the same way.
 */
async function dialDirect(env: Env, o: HttpUpstreamOptions, options: ClientRequestArgs, session: Session): Promise<Socket> {
  const host = options.host ?? 'localhost';
  const port = Number(options.port ?? 80);
  const family = isIP(host);
  const signal = family === 0 ? session.abort.signal : undefined;
  const addrs = family !== 0 ? [{ address: host, family: family as 4 | 6 }] : await env.resolver.resolve(host, o.family, signal);
  if (o.attemptDelayMs !== undefined && addrs.length > 1) {
    const usable = addrs.filter((a) => !isOwnListener(session.connection, a.address, port));
    if (usable.length === 0) throw proxyError('PRX_ERR_REQUEST_RECURSION');
    const dial = (a: { address: string }, sig: AbortSignal): Promise<Socket> =>
      env.dialer.dial({ host: a.address, port, localAddress: options.localAddress, timeoutMs: o.connectTimeoutMs, signal: sig });
    return (await raceConnect(interleaveFamilies(usable), dial, o.attemptDelayMs, session.abort.signal)).socket;
  }
  let last: ProxyError | null = null;
  for (const a of addrs) {
    if (isOwnListener(session.connection, a.address, port)) {
      last = proxyError('PRX_ERR_REQUEST_RECURSION');
      continue;
    }
    try {
      return await env.dialer.dial({
        host: a.address,
        port,
        localAddress: options.localAddress,
        timeoutMs: o.connectTimeoutMs,
        signal,
        ...(signal === undefined ? { onSocket: (s: Socket) => cancelOnEnd(session, s) } : {}),
      });
    } catch (err) {
      last = err as ProxyError;
      if (session.closed) break;
    }
  }
  throw last ?? proxyError('PRX_ERR_DNS_NOT_FOUND', host);
}

/** A dial the session no longer waits for is cut when the session ends. */
function cancelOnEnd(session: Session, socket: Socket): void {
  if (session.closed) {
    socket.destroy();
    return;
  }
  void session.finished.then(() => {
    if (socket.connecting) socket.destroy();
  });
}

function dialChain(env: Env, o: HttpUpstreamOptions, session: Session): Promise<Socket> {
  const chain = env.symbols.get('connect.chain') as ChainDialer | undefined;
  if (chain === undefined) return Promise.reject(proxyError('PRX_ERR_NOT_IMPLEMENTED', 'parent chains'));
  return chain.connect(session, {
    timeoutMs: o.connectTimeoutMs,
    family: o.family,
    localAddress: session.externalAddress ?? undefined,
    signal: session.abort.signal,
    attemptDelayMs: o.attemptDelayMs,
    backoffMs: o.backoffMs,
    sourceFor: o.sourceFor === undefined ? undefined : (f) => o.sourceFor?.(session, f),
  });
}

/** TLS to the requested origin over a socket that reaches it, when the service asks for it. */
function withTls(env: Env, o: HttpUpstreamOptions, session: Session, dial: Promise<Socket>): Promise<Socket> {
  const tls = o.tls;
  if (tls === null) return dial;
  return dial.then((socket) => {
    if (session.closed) {
      socket.destroy();
      throw proxyError('PRX_ERR_SESSION_KILLED', 'closed during connect');
    }
    const { host, port } = session.request;
    return upstreamTls(socket, tls, { host, port, timeoutMs: o.connectTimeoutMs, signal: session.abort.signal, logger: env.logger });
  });
}

export function createUpstream(env: Env, o: HttpUpstreamOptions): HttpUpstream {
  const plain = new DialingAgent(true, (opts, s) => dialDirect(env, o, opts, s));
  return {
    ...o,
    pool: o.tls === null ? plain : new DialingAgent(true, (opts, s) => withTls(env, o, s, dialDirect(env, o, opts, s)), true),
    chainPool: new DialingAgent(false, (_opts, s) => withTls(env, o, s, dialChain(env, o, s))),
    parentPool: plain,
  };
}

/**
 * The upstream of intercepted requests: dialed like createUpstream's, then TLS. Not part of
 * createUpstream because only a service with `mitm:` needs it (operators/mitm builds it).
 */
export function createTlsUpstream(env: Env, o: HttpUpstreamOptions, t: TlsUpstreamOptions): HttpUpstream {
  const name = (opts: ClientRequestArgs): string => serverName(opts) || (opts.host ?? '');
  // One context for every origin: the configured CA, or Node's public roots; names per request.
  const m: TlsClientMaterial = { secureContext: createSecureContext(t.ca !== null ? { ca: t.ca } : {}), verify: t.verify, alpn: ['http/1.1'] };
  return {
    ...o,
    mitmTls: t,
    // Unused: an intercepted request never goes to an HTTP parent as an absolute URI (routeFor).
    parentPool: new DialingAgent(true, (opts, s) => dialDirect(env, o, opts, s)),
    pool: new TlsDialingAgent(true, async (opts, s) => startTls(await dialDirect(env, o, opts, s), name(opts), m, o.connectTimeoutMs, s)),
    chainPool: new TlsDialingAgent(false, async (opts, s) => startTls(await dialChain(env, o, s), name(opts), m, o.connectTimeoutMs, s)),
  };
}

/** A parent entry as the config gives it (schemas/common.ts `parent`). */
interface ParentSpec {
  readonly type?: string;
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
}

/** Where and how one request goes upstream. */
export interface Route {
  readonly host: string;
  readonly port: number;
  /** Origin form for direct requests, the absolute URI for an HTTP parent. */
  readonly path: string;
  readonly agent: Agent;
  /** Extra request headers (Proxy-Authorization for an HTTP parent). */
  readonly extra: readonly (readonly [string, string])[];
  readonly localAddress: string | undefined;
  readonly sessionOption: Record<string, Session | string>;
}

/** Chooses the route: direct, one HTTP parent (absolute URI), or the chain dialer. */
export function routeFor(session: Session, up: HttpUpstream, path: string, absolute: string): Route {
  const req = session.request;
  const sessionOption = { [SESSION_OPTION]: session };
  const first = session.parents[0] as ParentSpec | undefined;
  // Chosen here, not per dial: the keep-alive pool keys sockets by source address, so a sticky
  // user never reuses another user's connection. A name counts as the policy's first family.
  const toFamily = (host: string): 4 | 6 => (isIP(host) === 6 || (isIP(host) === 0 && up.family.startsWith('6')) ? 6 : 4);
  const localAddress = session.externalAddress ?? up.sourceFor?.(session, toFamily(first?.host ?? req.address ?? req.host));
  if (up.mitmTls !== undefined) {
    // Intercepted: TLS to the tunnel's host, through the chain when there are parents (an
    // HTTP parent cannot take an https:// absolute URI).
    const tunnel = session.state.get(MITM_KEY) as MitmTunnel | undefined;
    const tlsOption = { ...sessionOption, [SERVERNAME_OPTION]: tunnel?.servername ?? req.host };
    const agent = first === undefined ? up.pool : up.chainPool;
    return { host: req.address ?? req.host, port: req.port, path, agent, extra: [], localAddress, sessionOption: tlsOption };
  }
  if (first === undefined) {
    return { host: req.address ?? req.host, port: req.port, path, agent: up.pool, extra: [], localAddress, sessionOption };
  }
  if (session.parents.length === 1 && first.type === 'http' && first.host !== undefined && first.host !== '0.0.0.0') {
    const extra: [string, string][] = [];
    if (first.user !== undefined && first.user !== '') {
      const cred = Buffer.from(`${first.user}:${first.password ?? ''}`).toString('base64');
      extra.push(['Proxy-Authorization', `Basic ${cred}`]);
    }
    const port = first.port !== undefined && first.port !== 0 ? first.port : req.port;
    return { host: first.host, port, path: absolute, agent: up.parentPool, extra, localAddress, sessionOption };
  }
  return { host: req.address ?? req.host, port: req.port, path, agent: up.chainPool, extra: [], localAddress, sessionOption };
}
