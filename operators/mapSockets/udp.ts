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
 */
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';
import { Observable } from 'rxjs';
import type { Session } from '../../core/session';
import { proxyError, type ErrorCode } from '../../core/errors';
import { UDP_KEY, type SocksUdpSettings } from '../readRequest/socks';
import { readAddress, encodeAddress } from '../readRequest/socks-parse';
import { sendReply, socks5Reply } from '../readRequest/socks-reply';
import { aclRequest, serviceAcl } from '../authorize/service-acl';
import type { RelayOptions } from './relay';

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
    const resolved = address ?? (await this.s.env.resolver.resolve(host, '46', this.session.abort.signal))[0]?.address;
    if (resolved === undefined) return this.drop('PRX_ERR_DNS_NOT_FOUND', host);
    if (!this.allowed(host, address, port)) return;
    const family = isIP(resolved) === 6 ? 6 : 4;
    this.remote(family).send(data, port, resolved);
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
      ok = d.action === 'allow';
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
    r.on('message', (msg, rinfo) => this.fromRemote(msg, rinfo));
    this.remotes.set(family, r);
    return r;
  }

  private fromRemote(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.clientPort === 0) return;
    this.touch();
    const header = Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(plain(rinfo.address), rinfo.port)]);
    this.client.send(Buffer.concat([header, msg]), this.clientPort, this.session.connection.clientAddress);
    this.session.bytesIn += msg.length;
  }

  close(): void {
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
const NOT_HOPS = new Set(['extip']);
const SOCKS5_HOPS = new Set(['socks5', 'socks5+', 'socks5b']);

/**
 * An association whose ACL rule has parents must not go out directly: 3proxy code 70 when a hop
 * is not SOCKS5; UDP relayed through SOCKS5 parents is not built yet (refused, reply 07).
 */
function parentRefusal(session: Session): ReturnType<typeof proxyError> | null {
  const hops = (session.parents as readonly { type?: string }[]).map((p) => p.type ?? '').filter((t) => !NOT_HOPS.has(t));
  if (hops.length === 0) return null;
  const other = hops.find((t) => !SOCKS5_HOPS.has(t));
  if (other !== undefined) return proxyError('PRX_ERR_PARENT_UDP', other);
  return proxyError('PRX_ERR_NOT_IMPLEMENTED', 'UDP ASSOCIATE through SOCKS5 parents');
}

/** The 'socks-udp' relay: runs the association until the TCP control connection closes. */
export function socksUdpRelay(session: Session, _opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const s = session.state.get(UDP_KEY) as SocksUdpSettings | undefined;
    if (s === undefined) {
      sub.error(proxyError('PRX_ERR_INTERNAL', 'UDP ASSOCIATE without settings'));
      return undefined;
    }
    const refused = parentRefusal(session);
    if (refused !== null) {
      sub.error(refused);
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
    const assoc = new UdpAssociation(session, s, end);
    // The control connection carries nothing more; its end is the association's end.
    const onClose = (): void => end(null);
    const cleanup = (): void => {
      assoc.close();
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
