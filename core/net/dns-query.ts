/**
 * One DNS exchange with one server (3proxy `nserver IP[:port][/tcp]`): a UDP datagram, or a
 * length-prefixed TCP message when the server is marked /tcp or the UDP answer was truncated.
 * Packets are encoded and decoded with `dns-packet`.
 */
import { createSocket } from 'node:dgram';
import { connect as netConnect, isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { proxyError, proxyErrorFrom, type ProxyError } from '../errors';

export interface NameServer {
  readonly address: string;
  readonly port: number;
  /** Always use TCP (the `/tcp` suffix). */
  readonly tcp: boolean;
}

/** Parses "IP[:port][/tcp]" and "[v6]:port/tcp". */
export function parseNameServer(text: string): NameServer {
  let rest = text.trim();
  const tcp = rest.toLowerCase().endsWith('/tcp');
  if (tcp) rest = rest.slice(0, -4);
  else if (rest.toLowerCase().endsWith('/udp')) rest = rest.slice(0, -4);
  let address = rest;
  let port = 53;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6 !== null) {
    address = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (isIP(rest) === 0 && rest.includes(':')) {
    const i = rest.lastIndexOf(':');
    address = rest.slice(0, i);
    port = Number(rest.slice(i + 1));
  }
  if (isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(text), 'expected a name server "IP[:port][/tcp]"');
  }
  return { address, port, tcp };
}

export type RecordType = 'A' | 'AAAA';

/** The part of an answer the resolver needs. */
export interface DnsAnswer {
  /** DNS RCODE (0 NOERROR, 3 NXDOMAIN, ...). */
  readonly rcode: number;
  readonly addresses: readonly string[];
  /** Smallest TTL among the matching records, in seconds (0 when none). */
  readonly ttl: number;
  readonly truncated: boolean;
}

function buildQuery(id: number, name: string, type: RecordType): dnsPacket.Packet {
  return { type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] };
}

function readAnswer(packet: dnsPacket.DecodedPacket, type: RecordType): DnsAnswer {
  const addresses: string[] = [];
  let ttl = Number.POSITIVE_INFINITY;
  for (const a of packet.answers ?? []) {
    if (a.type !== type) continue;
    addresses.push(a.data);
    ttl = Math.min(ttl, a.ttl ?? 0);
  }
  return { rcode: (packet.flags ?? 0) & 15, addresses, ttl: addresses.length > 0 ? ttl : 0, truncated: packet.flag_tc };
}

/** Asks `server` for `type` records of `name`; rejects with PRX_ERR_DNS_TIMEOUT / _FAILED. */
export async function queryServer(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<DnsAnswer> {
  if (!server.tcp) {
    const udp = await exchangeUdp(server, name, type, timeoutMs, signal);
    if (!udp.truncated) return udp;
  }
  return exchangeTcp(server, name, type, timeoutMs, signal);
}

/** Runs `body` with a timer and abort wiring; `cleanup` always runs once. */
function withDeadline<T>(
  name: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  body: (settle: (err: ProxyError | null, value?: T) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cleanup: () => void = () => {};
    const settle = (err: ProxyError | null, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup();
      if (err !== null) reject(err);
      else resolve(value as T);
    };
    const onAbort = (): void => settle(proxyError('PRX_ERR_SESSION_KILLED', 'aborted during name resolution'));
    const timer = setTimeout(() => settle(proxyError('PRX_ERR_DNS_TIMEOUT', name)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    cleanup = body(settle);
    if (done) cleanup();
  });
}

function exchangeUdp(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<DnsAnswer> {
  return withDeadline<DnsAnswer>(name, timeoutMs, signal, (settle) => {
    const id = randomInt(0, 65536);
    const sock = createSocket(isIP(server.address) === 6 ? 'udp6' : 'udp4');
    sock.on('error', (err) => settle(proxyErrorFrom('PRX_ERR_DNS_FAILED', err, name, (err as NodeJS.ErrnoException).code ?? err.message)));
    sock.on('message', (msg, rinfo) => {
      // Only the server we asked, with our id (a spoofed or late answer is ignored).
      if (rinfo.port !== server.port) return;
      let packet: dnsPacket.DecodedPacket;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return;
      }
      if (packet.id !== id) return;
      settle(null, readAnswer(packet, type));
    });
    sock.send(dnsPacket.encode(buildQuery(id, name, type)), server.port, server.address);
    return () => sock.close();
  });
}

function exchangeTcp(server: NameServer, name: string, type: RecordType, timeoutMs: number, signal?: AbortSignal): Promise<DnsAnswer> {
  return withDeadline<DnsAnswer>(name, timeoutMs, signal, (settle) => {
    const id = randomInt(0, 65536);
    const sock = netConnect({ host: server.address, port: server.port });
    let buf = Buffer.alloc(0);
    sock.on('error', (err) => settle(proxyErrorFrom('PRX_ERR_DNS_FAILED', err, name, (err as NodeJS.ErrnoException).code ?? err.message)));
    sock.on('close', () => settle(proxyError('PRX_ERR_DNS_FAILED', name, 'server closed the TCP connection')));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      let packet: dnsPacket.DecodedPacket;
      try {
        packet = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      } catch (err) {
        settle(proxyErrorFrom('PRX_ERR_DNS_FAILED', err, name, 'bad answer'));
        return;
      }
      if (packet.id !== id) settle(proxyError('PRX_ERR_DNS_FAILED', name, 'answer id mismatch'));
      else settle(null, readAnswer(packet, type));
    });
    sock.on('connect', () => sock.write(dnsPacket.streamEncode(buildQuery(id, name, type))));
    return () => sock.destroy();
  });
}
