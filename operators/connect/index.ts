/**
 * connect: opens the session's outgoing connection.
 *
 *   request host:port -> resolver (family policy -4/-6/-46/-64, nsrecord, cache)
 *                     -> dialer (source address -e, connect timeout, abort on session end)
 *                     -> session.target, %R:%r; responder.connected() (SOCKS reply, 200 ...)
 *
 * Addresses are tried in order until one connects. Sessions whose relay opens its own
 * upstream (`relayMode: 'http'`) and sessions without a target (`'none'`) pass through.
 * Parent chains (session.parents) are handled by the chain dialer registered in
 * env.symbols under `connect.chain` when present. With the service's `upstreamTls:` (3proxy
 * ssl_cli) the connection to the target then gets a verified TLS layer before the client is told
 * it is connected: the client speaks plain text, the target TLS.
 */
import type { Socket } from 'node:net';
import { defineOperator, sessionStep } from '../../core/operator';
import { proxyError, toProxyError, type ProxyError } from '../../core/errors';
import type { Session } from '../../core/session';
import type { Env } from '../../core/env';
import { literalAddresses, type FamilyPolicy } from '../../core/net/resolver';
import { isOwnListener } from '../../core/net/dialer';
import { parseDuration, DURATION_PATTERN } from '../../config/units';
import { tlsClientMaterialFor, upstreamTls, type TlsClientConfig } from '../../core/tls-client';
import { attemptDelayOf, interleaveFamilies, raceConnect } from '../../core/net/happy-eyeballs';
import type { ResolvedAddress } from '../../core/net/resolver';
import { serviceBackoffMs } from '../../core/net/chain';
import { serviceSource, type SourceChooser } from '../../core/net/egress';
import { isLocalRedirect, localRedirector } from './local-redirect';

export interface ConnectOptions {
  timeout?: string;
  family?: FamilyPolicy;
  happyEyeballs?: boolean;
  attemptDelay?: string;
}

/** What a parent-chain implementation provides (connect/parents issue). */
export interface ChainDialer {
  connect(
    session: Session,
    opts: {
      timeoutMs: number;
      family: FamilyPolicy;
      localAddress: string | undefined;
      signal: AbortSignal;
      attemptDelayMs?: number | undefined;
      backoffMs?: number | undefined;
      sourceFor?: ((family: 4 | 6) => string | undefined) | undefined;
    },
  ): Promise<Socket>;
}

export const connect = defineOperator<ConnectOptions>({
  name: 'connect',
  schema: {
    $id: 'rx3proxy:operator/connect',
    type: 'object',
    description: 'Connects to the requested target, directly or through the parents chosen by authorize.',
    additionalProperties: false,
    properties: {
      timeout: { type: 'string', pattern: DURATION_PATTERN, description: "Connect timeout (default: the service's timeouts.connect, 15s)." },
      family: {
        type: 'string',
        enum: ['4', '6', '46', '64'],
        description: "Address families: 4 or 6 only, 46 IPv4 first, 64 IPv6 first (3proxy -4 -6 -46 -64; default: the service's options.family, 46).",
      },
      happyEyeballs: { type: 'boolean', description: "Race IPv4 and IPv6 addresses (RFC 8305) instead of trying them in turn (default: the service's options.happyEyeballs, off)." },
      attemptDelay: { type: 'string', pattern: DURATION_PATTERN, description: 'Happy Eyeballs: delay before the next address is tried (default 250ms).' },
    },
  },
  create(options, env, ctx) {
    const cfg = ctx.service.config;
    const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
    const timeoutMs = parseDuration(options.timeout ?? timeouts['connect'] ?? '15s');
    const serviceOptions = (cfg['options'] ?? {}) as Record<string, unknown>;
    const family = options.family ?? (serviceOptions['family'] as FamilyPolicy | undefined) ?? '46';
    const tls = cfg['upstreamTls'] === undefined ? null : tlsClientMaterialFor(cfg['upstreamTls'] as TlsClientConfig);
    const attemptDelayMs = attemptDelayOf(options as Record<string, unknown>, serviceOptions);
    const backoffMs = serviceBackoffMs(serviceOptions);
    // Pool (the ACL rule's, else the service's), then `external`, by the family being dialed.
    const sourceFor = serviceSource(cfg, ctx.service.name);
    // The direct path takes no AbortSignal (no AbortController per session): the socket being
    // dialed is the session's target at once, so session.close() cancels it. Parent chains and
    // name lookups that can be aborted still get the session's signal.
    const redirect = localRedirector(env, ctx);
    const direct = { timeoutMs, family, sourceFor, attemptDelayMs };
    // No parents, no TLS to the target: one promise from dial to connected (the common case).
    const connectDirect = (session: Session): Promise<Session> =>
      dialDirect(env, session, direct).then((socket) => {
        attach(session, socket, session.request.address, session.request.port);
        const told = session.responder.connected(session);
        return told instanceof Promise ? told.then(() => session) : session;
      });
    const connectStream = async (session: Session): Promise<Session> => {
      if (session.parents.length > 0 && isLocalRedirect(session.parents)) return redirect(session);
      const localAddress = session.externalAddress ?? undefined;
      let socket =
        session.parents.length > 0
          ? await chainDialer(env).connect(session, {
              timeoutMs,
              family,
              localAddress,
              signal: session.abort.signal,
              attemptDelayMs,
              backoffMs,
              sourceFor: (f) => sourceFor(session, f),
            })
          : await dialDirect(env, session, { timeoutMs, family, sourceFor, attemptDelayMs });
      if (tls !== null) {
        // Owned by the session while the handshake runs: closing the session cuts it.
        session.target = socket;
        const { host, port } = session.request;
        socket = await upstreamTls(socket, tls, { host, port, timeoutMs, signal: session.abort.signal, logger: env.logger });
      }
      attach(session, socket);
      await session.responder.connected(session);
      return session;
    };
    // Sessions that are not dialed here ('http' relays dial their own upstream) pass synchronously;
    // 'ftp' (ftppr) is dialed like a stream: the control connection is its target.
    return sessionStep((session) =>
      session.relayMode !== 'stream' && session.relayMode !== 'ftp'
        ? session
        : session.parents.length === 0 && tls === null
          ? connectDirect(session)
          : connectStream(session),
    );
  },
});

function chainDialer(env: Env): ChainDialer {
  const chain = env.symbols.get('connect.chain') as ChainDialer | undefined;
  if (chain === undefined) throw proxyError('PRX_ERR_NOT_IMPLEMENTED', 'parent chains');
  return chain;
}

interface DirectDialOptions {
  readonly timeoutMs: number;
  readonly family: FamilyPolicy;
  readonly sourceFor: SourceChooser;
  readonly attemptDelayMs: number | undefined;
}

/** A literal address (no lookup, no promise for it) or the resolver's answer for a name. */
function dialDirect(env: Env, session: Session, o: DirectDialOptions): Promise<Socket> {
  const req = session.request;
  const target = req.address ?? req.host;
  let literal: ResolvedAddress[] | null;
  try {
    literal = literalAddresses(target, o.family);
  } catch (err) {
    return Promise.reject(toProxyError(err));
  }
  if (literal === null) return env.resolver.resolve(target, o.family, session.abort.signal).then((addrs) => dialAddresses(env, session, addrs, o));
  return dialAddresses(env, session, literal, o);
}

async function dialAddresses(env: Env, session: Session, addrs: readonly ResolvedAddress[], o: DirectDialOptions): Promise<Socket> {
  const req = session.request;
  const sourceFor = (a: ResolvedAddress): string | undefined => session.externalAddress ?? o.sourceFor(session, a.family);
  if (o.attemptDelayMs !== undefined && addrs.length > 1) return raceDirect(env, session, addrs, sourceFor, o.timeoutMs, o.attemptDelayMs);
  let last: ProxyError | null = null;
  for (const a of addrs) {
    if (isOwnListener(session.connection, a.address, req.port)) {
      last = proxyError('PRX_ERR_REQUEST_RECURSION');
      continue;
    }
    const localAddress = sourceFor(a);
    if (localAddress !== undefined) session.externalAddress = localAddress;
    try {
      const socket = await env.dialer.dial({
        host: a.address,
        port: req.port,
        localAddress,
        timeoutMs: o.timeoutMs,
        onSocket: (s) => {
          // Closed while the name was resolving: nothing may outlive the session.
          if (session.closed) s.destroy();
          else session.target = s;
        },
      });
      if (req.address === null) req.address = a.address;
      return socket;
    } catch (err) {
      last = err as ProxyError;
      session.target = null;
      if (last.code === 'PRX_ERR_SESSION_KILLED') break;
    }
  }
  throw last ?? proxyError('PRX_ERR_DNS_NOT_FOUND', req.host);
}

/** Happy Eyeballs over the target's addresses; the session's signal cancels every attempt. */
async function raceDirect(
  env: Env,
  session: Session,
  addrs: readonly ResolvedAddress[],
  sourceFor: (a: ResolvedAddress) => string | undefined,
  timeoutMs: number,
  delayMs: number,
): Promise<Socket> {
  const req = session.request;
  const usable = addrs.filter((a) => !isOwnListener(session.connection, a.address, req.port));
  if (usable.length === 0) throw proxyError('PRX_ERR_REQUEST_RECURSION');
  const dial = (a: ResolvedAddress, signal: AbortSignal): Promise<Socket> =>
    env.dialer.dial({ host: a.address, port: req.port, localAddress: sourceFor(a), timeoutMs, signal });
  const { socket, addr } = await raceConnect(interleaveFamilies(usable), dial, delayMs, session.abort.signal);
  const localAddress = sourceFor(addr);
  if (localAddress !== undefined) session.externalAddress = localAddress;
  if (req.address === null) req.address = addr.address;
  return socket;
}

/** Hands the socket to the session, which now owns it (destroyed in session.close()). */
export function attach(session: Session, socket: Socket, dialedAddress: string | null = null, dialedPort = 0): void {
  // Errors are read by mapSockets; without a listener an 'error' would crash the process.
  socket.on('error', noop);
  session.target = socket;
  // A direct dial knows where it connected: no getpeername() for it.
  session.remoteAddress = dialedAddress ?? socket.remoteAddress ?? null;
  session.remotePort = dialedAddress !== null ? dialedPort : (socket.remotePort ?? 0);
  if (session.externalAddress === null && socket.localAddress !== undefined) session.externalAddress = socket.localAddress;
}

function noop(): void {}
