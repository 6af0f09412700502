/**
 * Parent chains (3proxy `parent` lines after an allow/redirect, inventory 3.8):
 *
 *   candidates -> weight groups (one hop drawn per group summing to 1000; a group under
 *   1000 may draw nothing) -> extip / ha markers -> dial the first hop -> each hop's
 *   handshake asks for the next hop, the last for the target -> tunnel socket
 *
 * The whole chain is tried `parentRetries` times (root config, default 2). Beyond 3proxy: a
 * hop that failed is skipped for a back-off period when its group has a healthy alternative.
 * The failure time is shared by every service of the process; each service applies its own
 * period (`options.parentBackoff`, else the root `parentBackoff`, default 30s; 0 = never skip).
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { proxyError, proxyErrorFrom, toProxyError, type ProxyError } from '../errors';
import type { Env } from '../env';
import type { Session } from '../session';
import type { FamilyPolicy, ResolvedAddress } from './resolver';
import { interleaveFamilies, raceConnect } from './happy-eyeballs';
import { buildV1, buildV2 } from './proxy-protocol';
import { randomInPrefix } from './egress';

export { randomInPrefix };
import { connectHandshake, socks4Handshake, socks5Handshake, type Credentials, type HopTarget } from './parent-handshakes';
import type { ChainDialer } from '../../operators/connect';
import { TLS_HOP_TYPES, TlsClientError, connectTls, tlsClientMaterialFor, type TlsClientConfig } from '../tls-client';
import { parseDuration } from '../../config/units';

/** One `parents:` entry as validated by schemas/common.ts. */
export interface ParentSpec {
  readonly weight?: number;
  readonly type: string;
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  /** PROXY protocol version an `ha` or `tcp` hop writes (default 1 for ha; tcp writes none without it). */
  readonly proxyProtocol?: 1 | 2;
  /** TLS to this hop (types ending in "s"): CA, SNI, ALPN, client certificate, versions. */
  readonly tls?: TlsClientConfig;
}

/** A service's own `options.parentBackoff` (ms), undefined when it has none. */
export function serviceBackoffMs(serviceOptions: Readonly<Record<string, unknown>>): number | undefined {
  const v = serviceOptions['parentBackoff'] as string | number | undefined;
  return v === undefined ? undefined : parseDuration(v);
}

/** Draws one hop per weight group (3proxy semantics); `healthy` lets a drawn hop be swapped. */
export function pickChain(parents: readonly ParentSpec[], random: () => number = Math.random, healthy: (p: ParentSpec) => boolean = () => true): ParentSpec[] {
  const chosen: ParentSpec[] = [];
  let group: ParentSpec[] = [];
  let sum = 0;
  const close = (): void => {
    if (group.length === 0) return;
    const r = Math.floor(random() * 1000);
    let acc = 0;
    const i = group.findIndex((p) => (acc += p.weight ?? 1000) > r);
    if (i >= 0) chosen.push(failover(group, i, healthy));
    group = [];
    sum = 0;
  };
  for (const p of parents) {
    group.push(p);
    sum += p.weight ?? 1000;
    if (sum >= 1000) close();
  }
  close();
  return chosen;
}

/** The drawn hop, or the next healthy one in its group (the drawn one if none is healthy). */
function failover(group: readonly ParentSpec[], i: number, healthy: (p: ParentSpec) => boolean): ParentSpec {
  for (let k = 0; k < group.length; k++) {
    const p = group[(i + k) % group.length]!;
    if (healthy(p)) return p;
  }
  return group[i]!;
}

export interface ChainOptions {
  readonly timeoutMs: number;
  readonly family: FamilyPolicy;
  readonly localAddress: string | undefined;
  readonly signal: AbortSignal;
  /** Happy Eyeballs toward the first hop (or the target) when set. */
  readonly attemptDelayMs?: number | undefined;
  /** The service's back-off period; undefined: the root `parentBackoff`, else the chain's default. */
  readonly backoffMs?: number | undefined;
  /** Source address by the family of the address dialed (egress pools) when nothing else set one. */
  readonly sourceFor?: ((family: 4 | 6) => string | undefined) | undefined;
}

const HANDSHAKE_TYPES = new Set(['http', 'connect', 'connect+', 'socks4', 'socks4+', 'socks4b', 'socks5', 'socks5+', 'socks5b', 'tcp']);

/** The protocol a hop speaks once connected (and, for TLS types, once TLS is up). */
const innerType = (type: string): string => TLS_HOP_TYPES.get(type) ?? type;

export class ParentChain implements ChainDialer {
  /** When each hop last failed (clock ms); entries older than any back-off are harmless. */
  private readonly failedAt = new Map<string, number>();
  private readonly rootBackoffMs: number;
  constructor(
    private readonly env: Env,
    backoffMs = 30000,
    private readonly random: () => number = Math.random,
  ) {
    const root = env.config['parentBackoff'] as string | number | undefined;
    this.rootBackoffMs = root === undefined ? backoffMs : parseDuration(root);
  }

  private key(p: ParentSpec): string {
    return `${p.type} ${p.host}:${p.port}`;
  }

  /** False while `p` is inside the back-off period after its last failure. */
  isHealthy(p: ParentSpec, backoffMs = this.rootBackoffMs): boolean {
    if (backoffMs <= 0) return true;
    const at = this.failedAt.get(this.key(p));
    return at === undefined || at + backoffMs <= this.env.clock.now();
  }

  private markFailed(p: ParentSpec): void {
    this.failedAt.set(this.key(p), this.env.clock.now());
  }

  async connect(session: Session, opts: ChainOptions): Promise<Socket> {
    const retries = (this.env.config['parentRetries'] as number | undefined) ?? 2;
    let last: ProxyError = proxyError('PRX_ERR_INTERNAL', 'empty parent chain');
    const candidates = session.parents as ParentSpec[];
    const backoffMs = opts.backoffMs ?? this.rootBackoffMs;
    for (let attempt = 0; attempt < retries; attempt++) {
      const hops = pickChain(candidates, this.random, (p) => this.isHealthy(p, backoffMs));
      // From here on session.parents is the drawn chain (one per group): %h counts its hops.
      session.parents = hops;
      try {
        return await this.run(session, hops, opts);
      } catch (err) {
        last = toProxyError(err);
        if (opts.signal.aborted || last.code.startsWith('PRX_ERR_AUTH')) break;
      }
    }
    throw last;
  }

  /** Connects through `hops`; with no real hop left (all extip, or a trapped group) goes direct. */
  private async run(session: Session, hops: readonly ParentSpec[], opts: ChainOptions): Promise<Socket> {
    let localAddress = opts.localAddress;
    // ha: a PROXY header (v1, or v2 with proxyProtocol: 2) goes to whatever comes next (real hop
    // index, or the target); a tcp hop with proxyProtocol writes one to itself (it is the target).
    const haBefore = new Map<number, 1 | 2>();
    const real: ParentSpec[] = [];
    for (const h of hops) {
      if (h.type === 'extip') localAddress = h.host === '0.0.0.0' ? session.connection.clientAddress : h.host.includes('/') ? randomInPrefix(h.host) : h.host;
      else if (h.type === 'ha') haBefore.set(real.length, h.proxyProtocol ?? 1);
      else if (HANDSHAKE_TYPES.has(innerType(h.type))) {
        if (innerType(h.type) === 'tcp' && h.proxyProtocol !== undefined) haBefore.set(real.length, h.proxyProtocol);
        real.push(h);
      }
      else throw proxyError('PRX_ERR_NOT_IMPLEMENTED', `parent type ${h.type}`);
    }
    if (localAddress !== undefined) session.externalAddress = localAddress;
    const req = session.request;
    const first = real[0];
    const dialTo = first === undefined ? { host: req.address ?? req.host, port: req.port } : this.hopAddress(session, first);
    const addrs = await this.env.resolver.resolve(dialTo.host, opts.family, opts.signal);
    const socket = await this.dialFirst(addrs, dialTo.port, localAddress, opts, first);
    try {
      const v = haBefore.get(0);
      if (v !== undefined) socket.write(haHeader(session, v));
      return await this.negotiate(session, socket, real, haBefore, opts);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  private async dialFirst(addrs: readonly ResolvedAddress[], port: number, localAddress: string | undefined, opts: ChainOptions, hop: ParentSpec | undefined): Promise<Socket> {
    let last: unknown = proxyError('PRX_ERR_DNS_NOT_FOUND', String(port));
    const dial = (a: ResolvedAddress, signal: AbortSignal): Promise<Socket> =>
      this.env.dialer.dial({ host: a.address, port, localAddress: localAddress ?? opts.sourceFor?.(a.family), timeoutMs: opts.timeoutMs, signal });
    if (opts.attemptDelayMs !== undefined && addrs.length > 1) {
      try {
        return (await raceConnect(interleaveFamilies(addrs), dial, opts.attemptDelayMs, opts.signal)).socket;
      } catch (err) {
        last = err;
      }
    } else {
      for (const a of addrs) {
        try {
          return await dial(a, opts.signal);
        } catch (err) {
          last = err;
          if (opts.signal.aborted) break;
        }
      }
    }
    if (hop !== undefined) this.markFailed(hop);
    throw last;
  }

  /**
   * Runs each hop's handshake toward the next hop, the last toward the target, under one
   * deadline. A TLS hop first gets a TLS layer over what we have so far (the TCP socket, or the
   * previous hop's tunnel); the socket returned is the outermost layer.
   */
  private async negotiate(session: Session, first: Socket, real: readonly ParentSpec[], haBefore: ReadonlyMap<number, 1 | 2>, opts: ChainOptions): Promise<Socket> {
    let timedOut = false;
    const layers: Socket[] = [first];
    const destroyAll = (): void => {
      for (const l of layers) l.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      destroyAll();
    }, opts.timeoutMs);
    const onAbort = (): void => destroyAll();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    let current: ParentSpec | undefined;
    let socket = first;
    try {
      for (let i = 0; i < real.length; i++) {
        current = real[i]!;
        const next = real[i + 1];
        const to = next !== undefined ? this.hopAddress(session, next) : { host: session.request.host, port: session.request.port };
        if (TLS_HOP_TYPES.has(current.type)) {
          socket = await this.startTls(session, socket, current, opts);
          layers.push(socket);
        }
        await this.handshake(session, socket, current, to, opts);
        const v = haBefore.get(i + 1);
        if (v !== undefined) socket.write(haHeader(session, v));
      }
      return socket;
    } catch (err) {
      destroyAll();
      if (opts.signal.aborted) throw proxyError('PRX_ERR_SESSION_KILLED', 'aborted during parent handshake');
      const e = timedOut ? proxyError('PRX_ERR_PARENT_TIMEOUT', current === undefined ? '?' : this.key(current)) : toProxyError(err);
      if (current !== undefined && !e.code.endsWith('_REFUSED')) this.markFailed(current);
      throw e;
    } finally {
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  /** TLS to a hop, verified against its `tls:` block (name: the hop's host unless servername). */
  private async startTls(session: Session, socket: Socket, hop: ParentSpec, opts: ChainOptions): Promise<Socket> {
    const name = this.key(hop);
    try {
      return await connectTls(socket, tlsClientMaterialFor(hop.tls ?? {}), { host: this.hopAddress(session, hop).host, timeoutMs: opts.timeoutMs, signal: opts.signal });
    } catch (err) {
      if (!(err instanceof TlsClientError)) throw err;
      if (err.kind === 'verify') {
        this.env.logger.warn({ code: 'PRX_ERR_PARENT_TLS_VERIFY', parent: name, reason: err.reason }, 'parent certificate not verified');
        throw proxyErrorFrom('PRX_ERR_PARENT_TLS_VERIFY', err, name, err.reason);
      }
      throw proxyErrorFrom('PRX_ERR_PARENT_TLS_HANDSHAKE', err, name, err.reason);
    }
  }

  /** The hop's own address with the special forms: 0.0.0.0 keeps the requested address, port 0 the requested port. */
  private hopAddress(session: Session, hop: ParentSpec): HopTarget {
    const req = session.request;
    return { host: hop.host === '0.0.0.0' ? (req.address ?? req.host) : hop.host, port: hop.port === 0 ? req.port : hop.port };
  }

  private async handshake(session: Session, socket: Socket, hop: ParentSpec, to: HopTarget, opts: ChainOptions): Promise<void> {
    const name = this.key(hop);
    const creds = credentials(session, hop);
    const type = innerType(hop.type);
    const plus = type.endsWith('+');
    // Non-"+" types resolve names here and send an address (3proxy); "+" types send the name.
    const target = plus || isIP(to.host) !== 0 || type === 'tcp' ? to : await this.resolveFor(hop, to, opts);
    switch (type) {
      case 'tcp':
        return;
      case 'http':
      case 'connect':
      case 'connect+':
        return connectHandshake(socket, name, target, creds);
      case 'socks4':
      case 'socks4+':
      case 'socks4b':
        return socks4Handshake(socket, name, target, creds, type === 'socks4b');
      default:
        await socks5Handshake(socket, name, target, creds, type === 'socks5b');
    }
  }

  private async resolveFor(hop: ParentSpec, to: HopTarget, opts: ChainOptions): Promise<HopTarget> {
    const family = hop.type.startsWith('socks4') ? '4' : opts.family;
    const [a] = await this.env.resolver.resolve(to.host, family, opts.signal);
    return { host: a!.address, port: to.port };
  }
}

/** Parent credentials; user "*" passes the client's own (3proxy: code 4 when it gave none). */
export function credentials(session: Session, hop: ParentSpec): Credentials | null {
  if (hop.user === undefined || hop.user === '') return null;
  if (hop.user === '*') {
    if (session.user === null) throw proxyError('PRX_ERR_AUTH_REQUIRED');
    return { user: session.user, password: session.password ?? '' };
  }
  return { user: hop.user, password: hop.password ?? '' };
}

/** A PROXY header (v1 text or v2 binary) with the real client and the address it connected to. */
function haHeader(session: Session, version: 1 | 2): Buffer {
  const c = session.connection;
  return (version === 2 ? buildV2 : buildV1)({ address: c.clientAddress, port: c.clientPort }, { address: c.localAddress, port: c.localPort });
}
