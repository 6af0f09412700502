/**
 * SOCKS5 UDP ASSOCIATE relay: relayMode 'socks-udp'.
 *
 *   client side: a dgram socket on the service's (client-facing) address; the reply carries it
 *                (or udpNatAddress). Only datagrams from the client's IP count; the first one
 *                fixes the client's port. RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA; FRAG != 0
 *                is dropped.
 *   each destination: resolved, checked against the service's ACL (operation UDPASSOC; -U
 *                udpRecheck decides whether every new destination is checked), sent from a
 *                remote-side dgram socket; answers come back wrapped in the same header.
 *   lifetime:    until the TCP control connection closes, or the idle timeout with no datagram.
 *   SOCKS5 parent: under a rule with one SOCKS5 hop, a UDP ASSOCIATE is opened at the parent
 *                first (its TCP control lives as long as ours); datagrams go to the parent's
 *                relay wrapped in the same header (socks5+ passes names on unresolved), and
 *                the relay's answers, already wrapped, go back to the client as they are.
 */
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import { isIP, type Socket } from 'node:net';
import { Observable } from 'rxjs';
import type { Session } from '../../core/session';
import { proxyError, toProxyError, type ErrorCode } from '../../core/errors';
import { UDP_KEY, type SocksUdpSettings } from '../readRequest/socks';
import { readAddress, encodeAddress } from '../readRequest/socks-parse';
import { sendReply, socks5Reply } from '../readRequest/socks-reply';
import { aclRequest, serviceAcl } from '../authorize/service-acl';
import type { RelayOptions } from './relay';
import { pickChain, credentials, type ParentSpec } from '../../core/net/chain';
import { socks5Handshake } from '../../core/net/parent-handshakes';
import { parseDuration } from '../../config/units';

/** The UDP relay of a SOCKS5 parent, and the TCP control connection that keeps it open. */
interface ParentRelay {
  readonly control: Socket;
  readonly host: string;
  readonly port: number;
  /** socks5+: names are sent to the parent as names. */
  readonly sendsNames: boolean;
}

/** Destinations whose ACL decision one association remembers before it starts over. */
const MAX_REMEMBERED_DESTINATIONS = 4096;

function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

class UdpAssociation {
  private readonly client: DgramSocket;
  private readonly remotes = new Map<4 | 6, DgramSocket>();
  private clientPort = 0;
  private readonly checked = new Map<string, boolean>();
  private firstChecked = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: Session,
    private readonly s: SocksUdpSettings,
    private readonly end: (err: ReturnType<typeof proxyError> | null) => void,
    private readonly parent: ParentRelay | null,
  ) {
    const local = plain(session.connection.localAddress);
    this.client = createSocket(isIP(local) === 6 ? 'udp6' : 'udp4');
    this.client.on('error', (e) => end(proxyError('PRX_ERR_UDP_FAILED', e.message)));
    this.client.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    this.client.bind(0, local, () => {
      const a = this.client.address();
      sendReply(session, socks5Reply(0, s.udpNatAddress ?? a.address, a.port));
      this.touch();
    });
  }

  private drop(code: ErrorCode, ...args: unknown[]): void {
    const err = proxyError(code, ...args);
    this.s.env.logger.info({ code: err.code, legacyCode: err.legacyCode, service: this.session.service.name, session: this.session.id }, err.message);
  }

  private touch(): void {
    clearTimeout(this.idle);
    if (this.s.idleMs > 0) this.idle = setTimeout(() => this.end(proxyError('PRX_ERR_IDLE_TIMEOUT', this.s.idleMs)), this.s.idleMs);
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const from = plain(rinfo.address);
    if (from !== plain(this.session.connection.clientAddress) || (this.clientPort !== 0 && rinfo.port !== this.clientPort)) {
      return this.drop('PRX_ERR_SOCKS_UDP_STRANGER', `${rinfo.address}:${rinfo.port}`);
    }
    if (this.clientPort === 0) this.clientPort = rinfo.port;
    this.touch();
    if (msg.length < 4) return this.drop('PRX_ERR_SOCKS_TRUNCATED');
    if (msg[2] !== 0) return this.drop('PRX_ERR_SOCKS_UDP_FRAGMENT');
    const dst = readAddress(msg, 3);
    if (dst === null) return this.drop('PRX_ERR_SOCKS_TRUNCATED');
    if ('error' in dst) return this.drop(dst.error, dst.arg);
    void this.forward(dst.host, dst.address, dst.port, msg.subarray(dst.end)).catch((e: unknown) => this.drop('PRX_ERR_UDP_FAILED', (e as Error).message));
  }

  private async forward(host: string, address: string | null, port: number, data: Buffer): Promise<void> {
    if (this.parent !== null) return this.forwardToParent(this.parent, host, address, port, data);
    const resolved = address ?? (await this.s.env.resolver.resolve(host, '46', this.session.abort.signal))[0]?.address;
    if (resolved === undefined) return this.drop('PRX_ERR_DNS_NOT_FOUND', host);
    if (!this.allowed(host, address, port)) return;
    const family = isIP(resolved) === 6 ? 6 : 4;
    this.remote(family).send(data, port, resolved);
    this.session.bytesOut += data.length;
  }

  private async forwardToParent(p: ParentRelay, host: string, address: string | null, port: number, data: Buffer): Promise<void> {
    const to = address ?? (p.sendsNames ? host : (await this.s.env.resolver.resolve(host, '46', this.session.abort.signal))[0]?.address);
    if (to === undefined) return this.drop('PRX_ERR_DNS_NOT_FOUND', host);
    if (!this.allowed(host, address, port)) return;
    const header = Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(to, port)]);
    this.remote(isIP(p.host) === 6 ? 6 : 4).send(Buffer.concat([header, data]), p.port, p.host);
    this.session.bytesOut += data.length;
  }

  /**
   * The ACL per destination, 3proxy -U: 2 and 3 re-authorize every new destination, 0 and 1 only
   * the first; 1 and 3 log each new destination. Decisions are remembered per destination.
   */
  private allowed(host: string, address: string | null, port: number): boolean {
    const key = `${host}:${port}`;
    const known = this.checked.get(key);
    if (known !== undefined) return known;
    const first = !this.firstChecked;
    let ok = true;
    if (this.session.authMethod !== 'none' && (first || this.s.recheck >= 2)) {
      const req = { ...aclRequest(this.session, this.s.env.clock.now()), targetHost: host, targetAddress: address, port };
      const d = serviceAcl(this.s.ctx.service).evaluate(req);
      // 'redirect': allowed by a rule with parents (the association goes through them).
      ok = d.action === 'allow' || d.action === 'redirect';
      if (!ok) this.drop(d.action === 'deny' ? 'PRX_ERR_ACL_DENIED' : 'PRX_ERR_ACL_NO_MATCH', d.index);
    }
    this.firstChecked = true;
    // Bounded: an association that sprays datagrams (DHT, scans) must not grow the map forever.
    if (this.checked.size >= MAX_REMEMBERED_DESTINATIONS) this.checked.clear();
    this.checked.set(key, ok);
    if (ok && !first && (this.s.recheck === 1 || this.s.recheck === 3)) {
      this.s.env.logger.info({ service: this.session.service.name, session: this.session.id, destination: key }, 'UDP destination');
    }
    return ok;
  }

  private remote(family: 4 | 6): DgramSocket {
    let r = this.remotes.get(family);
    if (r !== undefined) return r;
    r = createSocket(family === 6 ? 'udp6' : 'udp4');
    r.on('error', (e) => this.drop('PRX_ERR_UDP_FAILED', e.message));
    // Same source rule as TCP (ACL rule egress, service egress, external); sends wait for the bind.
    const source = this.s.source?.(this.session, family);
    if (source !== undefined) r.bind(0, source);
    r.on('message', (msg, rinfo) => this.fromRemote(msg, rinfo));
    this.remotes.set(family, r);
    return r;
  }

  private fromRemote(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.clientPort === 0) return;
    if (this.parent !== null) return this.fromParent(this.parent, msg, rinfo);
    this.touch();
    const header = Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(plain(rinfo.address), rinfo.port)]);
    this.client.send(Buffer.concat([header, msg]), this.clientPort, this.session.connection.clientAddress);
    this.session.bytesIn += msg.length;
  }

  /** A datagram from the parent's relay is already in the client's format: checked, passed on. */
  private fromParent(p: ParentRelay, msg: Buffer, rinfo: RemoteInfo): void {
    if (plain(rinfo.address) !== plain(p.host) || rinfo.port !== p.port) return this.drop('PRX_ERR_SOCKS_UDP_STRANGER', `${rinfo.address}:${rinfo.port}`);
    if (msg.length < 4) return this.drop('PRX_ERR_SOCKS_TRUNCATED');
    if (msg[2] !== 0) return this.drop('PRX_ERR_SOCKS_UDP_FRAGMENT');
    const src = readAddress(msg, 3);
    if (src === null || 'error' in src) return this.drop('PRX_ERR_SOCKS_TRUNCATED');
    this.touch();
    this.client.send(msg, this.clientPort, this.session.connection.clientAddress);
    this.session.bytesIn += msg.length - src.end;
  }

  close(): void {
    this.parent?.control.destroy();
    clearTimeout(this.idle);
    for (const s of [this.client, ...this.remotes.values()]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

/** Entries that are not hops: they do not stop a datagram from going out. */
const NOT_HOPS = new Set(['extip', 'ha']);
const SOCKS5_HOPS = new Set(['socks5', 'socks5+', 'socks5b']);

/**
 * The SOCKS5 hop an association goes through (one drawn per weight group), null for none;
 * 3proxy code 70 when a hop is not SOCKS5. Datagrams cannot be tunnelled through a chain, so
 * more than one hop is refused.
 */
function parentHop(session: Session): ParentSpec | null {
  const hops = pickChain(session.parents as ParentSpec[]).filter((p) => !NOT_HOPS.has(p.type));
  if (hops.length === 0) return null;
  const other = hops.find((p) => !SOCKS5_HOPS.has(p.type));
  if (other !== undefined) throw proxyError('PRX_ERR_PARENT_UDP', other.type);
  if (hops.length > 1) throw proxyError('PRX_ERR_NOT_IMPLEMENTED', 'UDP ASSOCIATE through a chain of several parents');
  session.parents = hops;
  return hops[0]!;
}

/** Opens a UDP ASSOCIATE at the parent, under the service's connect timeout. */
async function openParentRelay(session: Session, s: SocksUdpSettings, hop: ParentSpec): Promise<ParentRelay> {
  const timeouts = (s.ctx.service.config['timeouts'] ?? {}) as Record<string, string>;
  const timeoutMs = parseDuration(timeouts['connect'] ?? '15s');
  const name = `${hop.type} ${hop.host}:${hop.port}`;
  const [addr] = await s.env.resolver.resolve(hop.host, '46', session.abort.signal);
  // From the address our datagrams will come from: a relay may accept only the control's client.
  const localAddress = s.source?.(session, addr!.family);
  const control = await s.env.dialer.dial({ host: addr!.address, port: hop.port, localAddress, timeoutMs, signal: session.abort.signal });
  const timer = setTimeout(() => control.destroy(proxyError('PRX_ERR_PARENT_TIMEOUT', name)), timeoutMs);
  try {
    // We do not know our datagrams' source port yet: 0.0.0.0:0 (RFC 1928 allows it).
    const bound = await socks5Handshake(control, name, { host: '0.0.0.0', port: 0 }, credentials(session, hop), false, 3);
    const unspecified = bound === null || bound.host === '0.0.0.0' || bound.host === '::' || bound.host === '0:0:0:0:0:0:0:0';
    session.remoteAddress = addr!.address;
    session.remotePort = hop.port;
    return { control, host: unspecified ? addr!.address : bound.host, port: bound?.port ?? 0, sendsNames: hop.type === 'socks5+' };
  } catch (err) {
    control.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The 'socks-udp' relay: runs the association until the TCP control connection closes. */
export function socksUdpRelay(session: Session, _opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const s = session.state.get(UDP_KEY) as SocksUdpSettings | undefined;
    if (s === undefined) {
      sub.error(proxyError('PRX_ERR_INTERNAL', 'UDP ASSOCIATE without settings'));
      return undefined;
    }
    let hop: ParentSpec | null;
    try {
      hop = parentHop(session);
    } catch (err) {
      sub.error(err);
      return undefined;
    }
    const control = session.connection.socket;
    let finished = false;
    const end = (err: ReturnType<typeof proxyError> | null): void => {
      if (finished) return;
      finished = true;
      cleanup();
      if (err === null) {
        sub.next(session);
        sub.complete();
      } else sub.error(err);
    };
    let assoc: UdpAssociation | null = null;
    const start = (parent: ParentRelay | null): void => {
      if (finished) {
        parent?.control.destroy();
        return;
      }
      assoc = new UdpAssociation(session, s, end, parent);
      // The parent ending its association ends ours (RFC 1928: the relay is gone).
      parent?.control.on('close', () => end(proxyError('PRX_ERR_UDP_FAILED', 'the parent closed its UDP association')));
      parent?.control.on('error', () => undefined);
    };
    if (hop === null) start(null);
    else openParentRelay(session, s, hop).then(start, (err: unknown) => end(toProxyError(err)));
    // The control connection carries nothing more; its end is the association's end.
    const onClose = (): void => end(null);
    const cleanup = (): void => {
      assoc?.close();
      control.removeListener('end', onClose);
      control.removeListener('close', onClose);
    };
    control.on('end', onClose);
    control.on('close', onClose);
    control.resume();
    return () => {
      if (!finished) {
        finished = true;
        cleanup();
      }
    };
  });
}
