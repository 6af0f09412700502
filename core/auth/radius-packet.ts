/**
 * RADIUS packets (RFC 2865 authentication, RFC 2866 accounting, RFC 3579 Message-Authenticator):
 * encoding, decoding and the MD5 constructions both ends compute.
 */
import { createHash, createHmac } from 'node:crypto';

export const CODE = { accessRequest: 1, accessAccept: 2, accessReject: 3, accountingRequest: 4, accountingResponse: 5 } as const;

/** Attribute numbers used here (3proxy's radsend sends the same set). */
export const ATTR = {
  userName: 1,
  userPassword: 2,
  nasIpAddress: 4,
  nasPort: 5,
  serviceType: 6,
  framedIpAddress: 8,
  loginIpHost: 14,
  loginService: 15,
  loginTcpPort: 16,
  replyMessage: 18,
  vendorSpecific: 26,
  calledStationId: 30,
  nasIdentifier: 32,
  acctStatusType: 40,
  acctInputOctets: 42,
  acctOutputOctets: 43,
  acctSessionId: 44,
  acctSessionTime: 46,
  acctInputGigawords: 52,
  acctOutputGigawords: 53,
  nasPortType: 61,
  messageAuthenticator: 80,
  nasIpv6Address: 95,
  loginIpv6Host: 98,
  framedIpv6Address: 168,
} as const;

export type Attribute = readonly [type: number, value: Buffer];

export interface Packet {
  readonly code: number;
  readonly id: number;
  readonly authenticator: Buffer;
  readonly attributes: readonly Attribute[];
}

const md5 = (...parts: Buffer[]): Buffer => createHash('md5').update(Buffer.concat(parts)).digest();

export function encodePacket(p: Packet): Buffer {
  const body = Buffer.concat(
    p.attributes.map(([type, value]) => {
      if (value.length > 253) throw new RangeError(`RADIUS attribute ${type} longer than 253 bytes`);
      return Buffer.concat([Buffer.from([type, value.length + 2]), value]);
    }),
  );
  const head = Buffer.alloc(4);
  head.writeUInt8(p.code, 0);
  head.writeUInt8(p.id, 1);
  head.writeUInt16BE(20 + body.length, 2);
  return Buffer.concat([head, p.authenticator, body]);
}

/** Null when the bytes are not a well-formed packet (short, bad lengths). */
export function decodePacket(buf: Buffer): Packet | null {
  if (buf.length < 20) return null;
  const length = buf.readUInt16BE(2);
  if (length < 20 || length > buf.length) return null;
  const attributes: Attribute[] = [];
  for (let at = 20; at < length; ) {
    const type = buf[at];
    const len = buf[at + 1];
    if (type === undefined || len === undefined || len < 2 || at + len > length) return null;
    attributes.push([type, buf.subarray(at + 2, at + len)]);
    at += len;
  }
  return { code: buf[0] ?? 0, id: buf[1] ?? 0, authenticator: buf.subarray(4, 20), attributes };
}

/** User-Password hiding (RFC 2865 5.2); the same XOR chain reveals it. */
export function hidePassword(password: Buffer, secret: string, authenticator: Buffer): Buffer {
  const padded = Buffer.alloc(Math.max(16, Math.ceil(Math.min(password.length, 128) / 16) * 16));
  password.copy(padded, 0, 0, Math.min(password.length, 128));
  const out = Buffer.alloc(padded.length);
  let prev = authenticator;
  for (let i = 0; i < padded.length; i += 16) {
    const b = md5(Buffer.from(secret), prev);
    for (let j = 0; j < 16; j++) out[i + j] = (padded[i + j] ?? 0) ^ (b[j] ?? 0);
    prev = out.subarray(i, i + 16);
  }
  return out;
}

/** The inverse of hidePassword (a server's view; trailing NULs removed). */
export function revealPassword(hidden: Buffer, secret: string, authenticator: Buffer): Buffer {
  const out = Buffer.alloc(hidden.length);
  let prev = authenticator;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = md5(Buffer.from(secret), prev);
    for (let j = 0; j < 16; j++) out[i + j] = (hidden[i + j] ?? 0) ^ (b[j] ?? 0);
    prev = hidden.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/** MD5(Code+ID+Length+RequestAuth+Attributes+Secret): responses, and accounting requests (zero RequestAuth). */
export function packetDigest(encoded: Buffer, requestAuthenticator: Buffer, secret: string): Buffer {
  const copy = Buffer.from(encoded);
  requestAuthenticator.copy(copy, 4);
  return md5(copy, Buffer.from(secret));
}

/** Fills a zeroed Message-Authenticator in an encoded packet with HMAC-MD5 over the packet. */
export function signMessageAuthenticator(encoded: Buffer, secret: string): Buffer {
  const p = decodePacket(encoded);
  if (p === null) return encoded;
  let at = 20;
  for (const [type, value] of p.attributes) {
    if (type === ATTR.messageAuthenticator) {
      createHmac('md5', secret).update(encoded).digest().copy(encoded, at + 2);
      break;
    }
    at += value.length + 2;
  }
  return encoded;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
