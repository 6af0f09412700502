/**
 * TLS ClientHello parser for tlspr (and `auto` on 0x16): finds the server name (SNI), the
 * ALPN protocols and the highest offered version. Only reads; the bytes go to the target as-is.
 *
 *   record header (5) -> handshake header (4) -> version, random, session id, ciphers,
 *   compression -> extensions: 0 server_name, 16 ALPN, 43 supported_versions
 */

/** What the ClientHello says; `sniOffset` lets `-s` split the hello inside the name. */
export interface ClientHello {
  readonly sni: string | null;
  readonly alpn: readonly string[];
  /** "TLSv1.3", "TLSv1.2", ... (supported_versions wins over the legacy field). */
  readonly version: string;
  /** Offset of the SNI host name in the record bytes, -1 when none. */
  readonly sniOffset: number;
}

/** Outcome of looking at the bytes received so far. */
export type HelloScan = { kind: 'need'; bytes: number } | { kind: 'not-tls' } | { kind: 'hello'; hello: ClientHello; length: number };

const VERSIONS: Record<number, string> = { 0x0300: 'SSLv3', 0x0301: 'TLSv1', 0x0302: 'TLSv1.1', 0x0303: 'TLSv1.2', 0x0304: 'TLSv1.3' };

/** A ClientHello is at most one record here: 3proxy reads a single record, so do we (16 KiB + header). */
export const MAX_HELLO = 16384 + 5;

function versionName(v: number): string {
  return VERSIONS[v] ?? `0x${v.toString(16).padStart(4, '0')}`;
}

/**
 * Looks at the first bytes of a connection. `need` asks for more bytes; `not-tls` means the
 * bytes are not a TLS handshake record carrying a ClientHello.
 */
export function scanClientHello(buf: Buffer): HelloScan {
  if (buf.length < 5) return { kind: 'need', bytes: 5 };
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return { kind: 'not-tls' };
  const recLen = buf.readUInt16BE(3);
  if (recLen < 4 || recLen > 16384) return { kind: 'not-tls' };
  if (buf.length < 5 + recLen) return { kind: 'need', bytes: 5 + recLen };
  const hello = parseHandshake(buf.subarray(0, 5 + recLen));
  return hello === null ? { kind: 'not-tls' } : { kind: 'hello', hello, length: 5 + recLen };
}

/** Bounds-checked cursor: every read past the end makes the whole parse fail (returns null). */
class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}
  ok(n: number): boolean {
    return this.pos + n <= this.end;
  }
  u8(): number {
    if (!this.ok(1)) throw RangeError('short');
    return this.buf[this.pos++]!;
  }
  u16(): number {
    if (!this.ok(2)) throw RangeError('short');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  skip(n: number): void {
    if (!this.ok(n)) throw RangeError('short');
    this.pos += n;
  }
}

function parseHandshake(rec: Buffer): ClientHello | null {
  if (rec[5] !== 0x01) return null; // handshake type 1 = ClientHello
  const bodyLen = rec.readUIntBE(6, 3);
  // A hello split over several records is legal but rare; we need it whole in the first one.
  const end = Math.min(rec.length, 9 + bodyLen);
  try {
    const c = new Cursor(rec, 9, end);
    const legacy = c.u16();
    c.skip(32);
    c.skip(c.u8());
    c.skip(c.u16());
    c.skip(c.u8());
    const found = { sni: null as string | null, sniOffset: -1, alpn: [] as string[], version: versionName(legacy) };
    if (!c.ok(2)) return found;
    const extEnd = Math.min(end, c.u16() + c.pos);
    while (c.pos + 4 <= extEnd) {
      const type = c.u16();
      const len = c.u16();
      const data = new Cursor(rec, c.pos, Math.min(extEnd, c.pos + len));
      c.skip(len);
      readExtension(type, data, found);
    }
    return found;
  } catch {
    return null;
  }
}

function readExtension(type: number, c: Cursor, out: { sni: string | null; sniOffset: number; alpn: string[]; version: string }): void {
  if (type === 0) {
    const listEnd = c.u16() + c.pos;
    while (c.pos + 3 <= listEnd) {
      const nameType = c.u8();
      const len = c.u16();
      if (nameType === 0 && c.ok(len)) {
        out.sni = c.buf.toString('latin1', c.pos, c.pos + len);
        out.sniOffset = c.pos;
        return;
      }
      c.skip(len);
    }
  } else if (type === 16) {
    const listEnd = c.u16() + c.pos;
    while (c.pos + 1 <= listEnd) {
      const len = c.u8();
      if (!c.ok(len)) return;
      out.alpn.push(c.buf.toString('latin1', c.pos, c.pos + len));
      c.skip(len);
    }
  } else if (type === 43) {
    let best = 0;
    const n = c.u8();
    for (let i = 0; i + 2 <= n; i += 2) {
      const v = c.u16();
      // GREASE values (0x?a?a) are not versions.
      if ((v & 0x0f0f) !== 0x0a0a && v > best) best = v;
    }
    if (best !== 0) out.version = versionName(best);
  }
}

/** The record content types tlspr's checks tell apart (RFC 8446 5.1). */
export const RECORD = { HANDSHAKE: 22 } as const;

/** Handshake message types the checks look for (RFC 5246 7.4). */
export const HANDSHAKE = { SERVER_HELLO: 2, CERTIFICATE: 11, CERTIFICATE_REQUEST: 13, SERVER_HELLO_DONE: 14 } as const;

/** One handshake message: its type and body length (the body itself is not needed). */
export interface HandshakeMessage {
  readonly type: number;
  readonly length: number;
  readonly body: Buffer;
}

/**
 * Splits the handshake byte stream (record payloads of type 22 concatenated) into whole
 * messages; `rest` is an incomplete tail that the next record continues.
 */
export function handshakeMessages(stream: Buffer): { messages: HandshakeMessage[]; rest: Buffer } {
  const messages: HandshakeMessage[] = [];
  let pos = 0;
  while (pos + 4 <= stream.length) {
    const length = stream.readUIntBE(pos + 1, 3);
    if (pos + 4 + length > stream.length) break;
    messages.push({ type: stream[pos]!, length, body: stream.subarray(pos + 4, pos + 4 + length) });
    pos += 4 + length;
  }
  return { messages, rest: stream.subarray(pos) };
}

/**
 * The version a ServerHello body selects (supported_versions wins over the legacy field), or
 * null when the body is not a well-formed ServerHello.
 */
export function serverHelloVersion(body: Buffer): string | null {
  try {
    const c = new Cursor(body, 0, body.length);
    let version = c.u16();
    if (version >> 8 !== 3) return null;
    c.skip(32);
    c.skip(c.u8());
    c.skip(2); // cipher suite
    c.skip(1); // compression method
    if (c.ok(2)) {
      const extEnd = Math.min(body.length, c.u16() + c.pos);
      while (c.pos + 4 <= extEnd) {
        const type = c.u16();
        const len = c.u16();
        if (type === 43 && len === 2 && c.ok(2)) version = body.readUInt16BE(c.pos);
        c.skip(len);
      }
    }
    return versionName(version);
  } catch {
    return null;
  }
}
