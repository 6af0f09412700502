/**
 * HAProxy PROXY protocol v1 (text) and v2 (binary): read on services with
 * `options.proxyProtocol` (3proxy -H), written to the next hop by `ha` parents.
 */
import { isIP, type Socket } from 'node:net';
import { proxyError } from '../errors';
import { SocketReader } from './socket-reader';

/** Addresses carried by a header; null for v1 UNKNOWN and v2 LOCAL (keep the socket's). */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly source: { readonly address: string; readonly port: number } | null;
  readonly destination: { readonly address: string; readonly port: number } | null;
}

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v1 lines are at most 107 bytes including CRLF. */
const V1_MAX = 107;

const bad = (why: string): ReturnType<typeof proxyError> => proxyError('PRX_ERR_REQUEST_MALFORMED', `PROXY header: ${why}`);

/** Parses one v1 line ("PROXY TCP4 src dst sport dport\r\n"). */
export function parseV1(line: string): ProxyHeader {
  const parts = line.replace(/\r\n$/, '').split(' ');
  if (parts[0] !== 'PROXY') throw bad('not a PROXY line');
  if (parts[1] === 'UNKNOWN') return { version: 1, source: null, destination: null };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) throw bad('bad v1 line');
  const want = parts[1] === 'TCP4' ? 4 : 6;
  const [src, dst, sport, dport] = [parts[2]!, parts[3]!, Number(parts[4]), Number(parts[5])];
  if (isIP(src) !== want || isIP(dst) !== want || !validPort(sport) || !validPort(dport)) throw bad('bad v1 address');
  return { version: 1, source: { address: src, port: sport }, destination: { address: dst, port: dport } };
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Parses the v2 body after the 16-byte fixed part. */
export function parseV2(fixed: Buffer, body: Buffer): ProxyHeader {
  const verCmd = fixed[12]!;
  if (verCmd >> 4 !== 2) throw bad('bad v2 version');
  const command = verCmd & 0x0f;
  const family = fixed[13]! >> 4;
  if (command === 0 || family === 0) return { version: 2, source: null, destination: null };
  if (command !== 1) throw bad('bad v2 command');
  if (family === 1 && body.length >= 12) {
    const ip = (o: number): string => [...body.subarray(o, o + 4)].join('.');
    return { version: 2, source: { address: ip(0), port: body.readUInt16BE(8) }, destination: { address: ip(4), port: body.readUInt16BE(10) } };
  }
  if (family === 2 && body.length >= 36) {
    return {
      version: 2,
      source: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      destination: { address: ipv6Text(body.subarray(16, 32)), port: body.readUInt16BE(34) },
    };
  }
  // AF_UNIX or a short body: nothing we can use as a client address.
  return { version: 2, source: null, destination: null };
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest zero run the way inet_ntop does.
  const text = groups.join(':');
  const runs = [...text.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)];
  if (runs.length === 0) return text;
  const longest = runs.reduce((a, b) => (b[0].length > a[0].length ? b : a));
  const i = longest.index;
  return `${text.slice(0, i)}::${text.slice(i + longest[0].length)}`;
}

/**
 * Reads a v1 or v2 header from a fresh client socket; the bytes after it stay in the socket.
 * Rejects with PRX_ERR_REQUEST_MALFORMED (bad header), _EMPTY (closed) or _TIMEOUT.
 */
export async function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  const reader = new SocketReader(socket);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  try {
    const first = await reader.readSome(1);
    reader.unread(first);
    if (first[0] === 0x0d) {
      const fixed = await reader.read(16);
      if (!fixed.subarray(0, 12).equals(V2_SIGNATURE)) throw bad('bad v2 signature');
      const body = await reader.read(fixed.readUInt16BE(14));
      return parseV2(fixed, body);
    }
    const line = await reader.readUntil('\r\n', V1_MAX).catch(() => {
      throw bad('no v1 line');
    });
    return parseV1(line.toString('latin1'));
  } finally {
    clearTimeout(timer);
    reader.release();
  }
}

type Endpoint = { readonly address: string; readonly port: number };

function family(a: string): 4 | 6 {
  return isIP(a) === 6 ? 6 : 4;
}

/** Maps a v4 address into v6 when the other end of the header is IPv6 (both must match). */
function sameFamily(src: Endpoint, dst: Endpoint): [Endpoint, Endpoint, 4 | 6] {
  const fs = family(src.address);
  const fd = family(dst.address);
  if (fs === fd) return [src, dst, fs];
  const map = (e: Endpoint): Endpoint => (family(e.address) === 4 ? { address: `::ffff:${e.address}`, port: e.port } : e);
  return [map(src), map(dst), 6];
}

/** A v4-mapped v6 address as plain v4 (a dual-stack listener reports those). */
const strip = (e: Endpoint): Endpoint => (e.address.startsWith('::ffff:') && isIP(e.address.slice(7)) === 4 ? { address: e.address.slice(7), port: e.port } : e);

/** "PROXY TCP4 src dst sport dport\r\n" (v4-mapped v6 addresses are written as plain v4). */
export function buildV1(src: Endpoint, dst: Endpoint): Buffer {
  const [s, d, fam] = sameFamily(strip(src), strip(dst));
  return Buffer.from(`PROXY TCP${fam} ${s.address} ${d.address} ${s.port} ${d.port}\r\n`, 'latin1');
}

/** Binary v2 header, command PROXY over TCP (v4-mapped v6 addresses are written as v4, as in v1). */
export function buildV2(src: Endpoint, dst: Endpoint): Buffer {
  const [s, d, fam] = sameFamily(strip(src), strip(dst));
  const addrLen = fam === 4 ? 12 : 36;
  const out = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = fam === 4 ? 0x11 : 0x21;
  out.writeUInt16BE(addrLen, 14);
  const ipLen = fam === 4 ? 4 : 16;
  ipBytes(s.address, fam).copy(out, 16);
  ipBytes(d.address, fam).copy(out, 16 + ipLen);
  out.writeUInt16BE(s.port, 16 + 2 * ipLen);
  out.writeUInt16BE(d.port, 18 + 2 * ipLen);
  return out;
}

/** Address bytes (4 or 16), IPv6 text expanded by hand ("::" and embedded v4 supported). */
export function ipBytes(address: string, fam: 4 | 6): Buffer {
  if (fam === 4) return Buffer.from(address.split('.').map(Number));
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const b = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
