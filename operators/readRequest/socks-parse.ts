/**
 * SOCKS 4/4a/5 request parser: a small state machine over buffered bytes, no I/O.
 *
 *   start ─ 0x04 ─> socks4 (VN CD PORT IP USERID\0 [HOST\0 when IP is 0.0.0.x])   ─> request
 *         ─ 0x05 ─> methods (VER NMETHODS METHODS) ─ 0x02 chosen ─> userpass (RFC 1929)
 *                                                  ─ 0x00 chosen ─────────────┐
 *                                      userpass ──────────────────────────────┴─> request5
 *         ─ other ─> error (PRX_ERR_SOCKS_VERSION)
 *
 * `feed` appends bytes and returns the next event; an event is produced as soon as its bytes
 * are there, whatever the chunking (the fuzz test checks this). Nothing here throws on input.
 */
import type { ErrorCode } from '../../core/errors';

export type SocksCommand = 'CONNECT' | 'BIND' | 'UDPASSOC';

export interface SocksRequest {
  readonly version: 4 | 5;
  readonly command: SocksCommand;
  /** Host name (domain / 4a) or the address text. */
  readonly host: string;
  /** The address when the client gave one, else null. */
  readonly address: string | null;
  readonly port: number;
  /** SOCKS4 user id (null for SOCKS5: credentials come from the RFC 1929 event). */
  readonly userId: string | null;
}

export type SocksEvent =
  | { readonly kind: 'need' }
  /** SOCKS5 method chosen (0x00, 0x02 or 0xFF): the reader answers `05 method`. */
  | { readonly kind: 'method'; readonly method: number }
  | { readonly kind: 'credentials'; readonly user: string; readonly password: string }
  | { readonly kind: 'request'; readonly request: SocksRequest; readonly rest: Buffer }
  | { readonly kind: 'error'; readonly version: 0 | 4 | 5; readonly code: ErrorCode; readonly arg: string };

export type UserAuthPolicy = 'auto' | 'never' | 'required';

type Phase = 'start' | 'socks4' | 'methods' | 'userpass' | 'request5' | 'done';

const NEED: SocksEvent = { kind: 'need' };
/** Longest SOCKS4 user id / 4a host we buffer before calling the request malformed. */
const MAX_SOCKS4_FIELD = 1024;
const COMMANDS: Record<number, SocksCommand> = { 1: 'CONNECT', 2: 'BIND', 3: 'UDPASSOC' };

export class SocksParser {
  private phase: Phase = 'start';
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly userAuth: UserAuthPolicy = 'auto') {}

  /** SOCKS version seen so far (0 before the first byte). */
  get version(): 0 | 4 | 5 {
    return this.seen;
  }
  private seen: 0 | 4 | 5 = 0;

  /** Adds bytes and returns the next event (call again with an empty buffer for more). */
  feed(chunk: Buffer): SocksEvent {
    if (chunk.length > 0) this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    switch (this.phase) {
      case 'start':
        return this.start();
      case 'socks4':
        return this.socks4();
      case 'methods':
        return this.methods();
      case 'userpass':
        return this.userpass();
      case 'request5':
        return this.request5();
      default:
        return NEED;
    }
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
  }

  private fail(code: ErrorCode, arg = ''): SocksEvent {
    const version = this.version;
    this.phase = 'done';
    return { kind: 'error', version, code, arg };
  }

  private start(): SocksEvent {
    if (this.buf.length === 0) return NEED;
    const v = this.buf[0]!;
    if (v === 4) {
      this.phase = 'socks4';
      this.seen = 4;
      return this.socks4();
    }
    if (v === 5) {
      this.phase = 'methods';
      this.seen = 5;
      return this.methods();
    }
    return this.fail('PRX_ERR_SOCKS_VERSION', String(v));
  }

  private socks4(): SocksEvent {
    const b = this.buf;
    if (b.length < 9) return NEED;
    const cmd = COMMANDS[b[1]!];
    const userEnd = b.indexOf(0, 8);
    if (userEnd < 0) return b.length > 8 + MAX_SOCKS4_FIELD ? this.fail('PRX_ERR_REQUEST_MALFORMED', 'SOCKS4 user id too long') : NEED;
    const port = b.readUInt16BE(2);
    const ip = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
    const userId = b.toString('latin1', 8, userEnd);
    let host = ip;
    let address: string | null = ip;
    let end = userEnd + 1;
    // SOCKS4a: 0.0.0.x with x != 0 means "the host name follows the user id".
    if (b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] !== 0) {
      const hostEnd = b.indexOf(0, end);
      if (hostEnd < 0) return b.length > end + MAX_SOCKS4_FIELD ? this.fail('PRX_ERR_SOCKS_BAD_NAME') : NEED;
      host = b.toString('latin1', end, hostEnd);
      if (host.length === 0) return this.fail('PRX_ERR_SOCKS_BAD_NAME');
      address = null;
      end = hostEnd + 1;
    }
    if (cmd === undefined || cmd === 'UDPASSOC') return this.fail('PRX_ERR_SOCKS_COMMAND', String(b[1]));
    return this.finish({ version: 4, command: cmd, host, address, port, userId }, end);
  }

  private methods(): SocksEvent {
    const b = this.buf;
    if (b.length < 2) return NEED;
    const n = b[1]!;
    if (n === 0) return this.fail('PRX_ERR_SOCKS_NO_METHOD');
    if (b.length < 2 + n) return NEED;
    const offered = b.subarray(2, 2 + n);
    this.consume(2 + n);
    const method = chooseMethod(offered, this.userAuth);
    if (method === 0xff) {
      this.phase = 'done';
      return { kind: 'method', method };
    }
    this.phase = method === 0x02 ? 'userpass' : 'request5';
    return { kind: 'method', method };
  }

  private userpass(): SocksEvent {
    const b = this.buf;
    if (b.length < 2) return NEED;
    if (b[0] !== 1) return this.fail('PRX_ERR_REQUEST_MALFORMED', `RFC 1929 version ${b[0]}`);
    const ulen = b[1]!;
    if (b.length < 3 + ulen) return NEED;
    const plen = b[2 + ulen]!;
    if (b.length < 3 + ulen + plen) return NEED;
    const user = b.toString('utf8', 2, 2 + ulen);
    const password = b.toString('utf8', 3 + ulen, 3 + ulen + plen);
    this.consume(3 + ulen + plen);
    this.phase = 'request5';
    return { kind: 'credentials', user, password };
  }

  private request5(): SocksEvent {
    const b = this.buf;
    if (b.length < 5) return NEED;
    if (b[0] !== 5) return this.fail('PRX_ERR_SOCKS_VERSION', String(b[0]));
    const addr = readAddress(b, 3);
    if (addr === null) return NEED;
    if ('error' in addr) return this.fail(addr.error, addr.arg);
    const cmd = COMMANDS[b[1]!];
    if (cmd === undefined) return this.fail('PRX_ERR_SOCKS_COMMAND', String(b[1]));
    return this.finish({ version: 5, command: cmd, host: addr.host, address: addr.address, port: addr.port, userId: null }, addr.end);
  }

  private finish(request: SocksRequest, end: number): SocksEvent {
    const rest = Buffer.from(this.buf.subarray(end));
    this.buf = Buffer.alloc(0);
    this.phase = 'done';
    return { kind: 'request', request, rest };
  }
}

/** 3proxy: user/pass only when offered and not `-u`; `-u2` without user/pass -> 0xFF. */
export function chooseMethod(offered: Uint8Array, userAuth: UserAuthPolicy): number {
  if (offered.includes(0x02) && userAuth !== 'never') return 0x02;
  if (userAuth === 'required') return 0xff;
  return offered.includes(0x00) ? 0x00 : 0xff;
}

export type AddressRead =
  | { readonly host: string; readonly address: string | null; readonly port: number; readonly end: number }
  | { readonly error: ErrorCode; readonly arg: string };

/** Reads ATYP ADDR PORT at `at` (SOCKS5 requests and UDP headers); null when incomplete. */
export function readAddress(b: Buffer, at: number): AddressRead | null {
  if (b.length <= at) return null;
  const atyp = b[at]!;
  let end: number;
  let host: string;
  let address: string | null;
  if (atyp === 1) {
    end = at + 5;
    if (b.length < end + 2) return null;
    host = `${b[at + 1]}.${b[at + 2]}.${b[at + 3]}.${b[at + 4]}`;
    address = host;
  } else if (atyp === 4) {
    end = at + 17;
    if (b.length < end + 2) return null;
    host = ipv6Text(b.subarray(at + 1, end));
    address = host;
  } else if (atyp === 3) {
    if (b.length < at + 2) return null;
    const len = b[at + 1]!;
    if (len === 0) return { error: 'PRX_ERR_SOCKS_BAD_NAME', arg: '' };
    end = at + 2 + len;
    if (b.length < end + 2) return null;
    host = b.toString('latin1', at + 2, end);
    address = null;
  } else {
    return { error: 'PRX_ERR_SOCKS_ADDRESS_TYPE', arg: String(atyp) };
  }
  return { host, address, port: b.readUInt16BE(end), end: end + 2 };
}

function ipv6Text(raw: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i]! << 8) | raw[i + 1]!).toString(16));
  // WHATWG URL gives the canonical compressed form (longest zero run as ::), as the ACL expects.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Encodes an address as ATYP ADDR PORT (replies and UDP headers). */
export function encodeAddress(address: string, port: number): Buffer {
  const p = Buffer.from([(port >> 8) & 0xff, port & 0xff]);
  const v4 = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) return Buffer.concat([Buffer.from([1, ...v4.split('.').map(Number)]), p]);
  if (address.includes(':')) return Buffer.concat([Buffer.from([4]), ipv6Bytes(address), p]);
  const name = Buffer.from(address, 'latin1').subarray(0, 255);
  return Buffer.concat([Buffer.from([3, name.length]), name, p]);
}

function ipv6Bytes(text: string): Buffer {
  const zone = text.indexOf('%');
  const a = zone >= 0 ? text.slice(0, zone) : text;
  const [head = '', tail] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}
