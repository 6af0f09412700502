/**
 * A RADIUS client with 3proxy's behaviour (authradius.c radsend):
 *
 *   Access-Request   Service-Type Authenticate-Only, Acct-Session-Id, NAS-Port-Type Virtual,
 *                    NAS-Port (service port), NAS-IP(v6)-Address (local address),
 *                    NAS-Identifier, Framed-IP(v6)-Address (client), Called-Station-Id (host),
 *                    Login-Service (operation), Login-TCP-Port, Login-IP(v6)-Host, User-Name,
 *                    User-Password; plus a Message-Authenticator (RFC 3579, which current
 *                    servers require; 3proxy does not send it)
 *   servers          tried in order, one timeout each; a reply must carry the request id and
 *                    a valid Response Authenticator, else it is ignored
 *   Access-Accept    ok; Framed-IP-Address / Framed-IPv6-Address = the outgoing address
 *   Access-Reject    refused; a Reply-Message starting with digits carries 3proxy's code
 *   Accounting       Start after an accept, Stop with octets and session time at the end
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { ATTR, CODE, decodePacket, encodePacket, hidePassword, packetDigest, signMessageAuthenticator, u32, type Attribute, type Packet } from './radius-packet';

export interface RadiusServer {
  readonly host: string;
  readonly port: number;
  readonly accountingPort: number;
}

export interface RadiusSettings {
  readonly secret: string;
  readonly servers: readonly RadiusServer[];
  /** Per server and exchange. */
  readonly timeoutMs: number;
}

/** What a request tells the server (3proxy's clientparam fields). */
export interface RadiusRequest {
  readonly user: string;
  readonly password: string | null;
  readonly sessionId: string;
  readonly clientAddress: string;
  readonly localAddress: string;
  readonly servicePort: number;
  readonly nasIdentifier: string;
  readonly targetHost: string;
  readonly targetAddress: string | null;
  readonly targetPort: number;
  /** 3proxy's operation bit, sent as Login-Service (bit << 8). */
  readonly operationBit: number;
}

export interface RadiusUsage {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly seconds: number;
}

export type RadiusOutcome =
  | { readonly kind: 'accept'; readonly framedAddress: string | null }
  | { readonly kind: 'reject'; readonly replyCode: number | null }
  | { readonly kind: 'no-answer' };

function ipBytes(address: string): Buffer | null {
  const a = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  if (isIP(a) === 4) return Buffer.from(a.split('.').map(Number));
  if (isIP(a) !== 6) return null;
  const [head = '', tail = ''] = a.split('::');
  const parts = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const h = parts(head);
  const t = a.includes('::') ? parts(tail) : [];
  const words = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

function addressAttr(v4: number, v6: number, address: string | null): Attribute[] {
  const b = address === null ? null : ipBytes(address);
  if (b === null) return [];
  return [[b.length === 4 ? v4 : v6, b]];
}

function commonAttributes(r: RadiusRequest, first: Attribute): Attribute[] {
  const text = (s: string): Buffer => Buffer.from(s.slice(0, 253), 'utf8');
  return [
    first,
    [ATTR.acctSessionId, text(r.sessionId)],
    [ATTR.nasPortType, u32(5)],
    [ATTR.nasPort, u32(r.servicePort)],
    ...addressAttr(ATTR.nasIpAddress, ATTR.nasIpv6Address, r.localAddress),
    [ATTR.nasIdentifier, text(r.nasIdentifier)],
    ...addressAttr(ATTR.framedIpAddress, ATTR.framedIpv6Address, r.clientAddress),
    ...(r.targetHost === '' ? [] : [[ATTR.calledStationId, text(r.targetHost)] as Attribute]),
    [ATTR.loginService, u32(r.operationBit << 8)],
    [ATTR.loginTcpPort, u32(r.targetPort)],
    ...addressAttr(ATTR.loginIpHost, ATTR.loginIpv6Host, r.targetAddress),
    [ATTR.userName, Buffer.from(r.user, 'utf8').subarray(0, 128)],
  ];
}

function readOutcome(reply: Packet): RadiusOutcome {
  let framedAddress: string | null = null;
  let replyCode: number | null = null;
  for (const [type, value] of reply.attributes) {
    if (type === ATTR.framedIpAddress && value.length === 4) framedAddress = [...value].join('.');
    if (type === ATTR.framedIpv6Address && value.length === 16) {
      framedAddress = Array.from({ length: 8 }, (_, i) => value.readUInt16BE(i * 2).toString(16)).join(':');
    }
    const digits = type === ATTR.replyMessage ? /^\d+/.exec(value.toString('latin1')) : null;
    if (digits !== null) replyCode = Number(digits[0]);
  }
  return reply.code === CODE.accessAccept ? { kind: 'accept', framedAddress } : { kind: 'reject', replyCode };
}

export class RadiusClient {
  private nextId = randomBytes(1)[0] ?? 0;

  constructor(private readonly settings: RadiusSettings) {}

  /** Access-Request to each server in turn until one answers. */
  async authenticate(r: RadiusRequest, signal?: AbortSignal): Promise<RadiusOutcome> {
    const authenticator = randomBytes(16);
    const attrs = commonAttributes(r, [ATTR.serviceType, u32(8)]);
    if (r.password !== null) attrs.push([ATTR.userPassword, hidePassword(Buffer.from(r.password, 'utf8'), this.settings.secret, authenticator)]);
    attrs.push([ATTR.messageAuthenticator, Buffer.alloc(16)]);
    const packet = signMessageAuthenticator(encodePacket({ code: CODE.accessRequest, id: this.id(), authenticator, attributes: attrs }), this.settings.secret);
    const reply = await this.exchange(packet, authenticator, 'auth', signal);
    return reply === null ? { kind: 'no-answer' } : readOutcome(reply);
  }

  /** Accounting-Request Start (usage undefined) or Stop; true when a server acknowledged. */
  async account(r: RadiusRequest, usage?: RadiusUsage): Promise<boolean> {
    const attrs = commonAttributes(r, [ATTR.acctStatusType, u32(usage === undefined ? 1 : 2)]);
    if (usage !== undefined) {
      attrs.push([ATTR.acctInputOctets, u32(usage.bytesIn % 2 ** 32)]);
      if (usage.bytesIn >= 2 ** 32) attrs.push([ATTR.acctInputGigawords, u32(Math.floor(usage.bytesIn / 2 ** 32))]);
      attrs.push([ATTR.acctOutputOctets, u32(usage.bytesOut % 2 ** 32)]);
      if (usage.bytesOut >= 2 ** 32) attrs.push([ATTR.acctOutputGigawords, u32(Math.floor(usage.bytesOut / 2 ** 32))]);
      attrs.push([ATTR.acctSessionTime, u32(Math.floor(usage.seconds))]);
    }
    const zero = Buffer.alloc(16);
    const packet = encodePacket({ code: CODE.accountingRequest, id: this.id(), authenticator: zero, attributes: attrs });
    const authenticator = packetDigest(packet, zero, this.settings.secret);
    authenticator.copy(packet, 4);
    return (await this.exchange(packet, authenticator, 'acct')) !== null;
  }

  private id(): number {
    this.nextId = (this.nextId + 1) & 0xff;
    return this.nextId;
  }

  private async exchange(packet: Buffer, authenticator: Buffer, kind: 'auth' | 'acct', signal?: AbortSignal): Promise<Packet | null> {
    for (const server of this.settings.servers) {
      if (signal?.aborted === true) return null;
      const port = kind === 'auth' ? server.port : server.accountingPort;
      const reply = await this.once(packet, authenticator, server.host, port, kind, signal);
      if (reply !== null) return reply;
    }
    return null;
  }

  /** One server: send, wait for a valid reply or the timeout. */
  private once(packet: Buffer, authenticator: Buffer, host: string, port: number, kind: 'auth' | 'acct', signal?: AbortSignal): Promise<Packet | null> {
    const expected: readonly number[] = kind === 'auth' ? [CODE.accessAccept, CODE.accessReject] : [CODE.accountingResponse];
    return new Promise((resolve) => {
      const sock: Socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
      const finish = (p: Packet | null): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        sock.close();
        resolve(p);
      };
      const onAbort = (): void => finish(null);
      const timer = setTimeout(() => finish(null), this.settings.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      sock.on('error', () => finish(null));
      sock.on('message', (msg) => {
        const p = decodePacket(msg);
        if (p === null || p.id !== packet[1] || !expected.includes(p.code)) return;
        const valid = packetDigest(msg.subarray(0, msg.readUInt16BE(2)), authenticator, this.settings.secret).equals(p.authenticator);
        if (valid) finish(p);
      });
      sock.send(packet, port, host);
    });
  }
}
