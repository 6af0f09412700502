/**
 * The FTP client side both FTP paths share (ftppr towards the server, and ftp:// URLs through
 * the HTTP proxy): RFC 959 replies (multi-line included), the USER/PASS login as 3proxy's
 * ftplogin does it, and the address syntax of PASV/EPSV replies and PORT/EPRT commands.
 *
 * Lines are read as latin1 so file names in any encoding pass through byte for byte.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { SocketReader } from './socket-reader';
import { proxyError, type ErrorCode, type ProxyError } from '../errors';

/** 3proxy reads control lines into 2 KiB buffers; longer lines are a protocol error. */
export const FTP_MAX_LINE = 2048;

/** One complete reply: the code of its last line and every line as received (without CRLF). */
export interface FtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** Reply lines as they go back on the wire. */
export function replyText(r: FtpReply): string {
  return r.lines.map((l) => `${l}\r\n`).join('');
}

/** The last line's text after the code (what error messages quote). */
export function replyMessage(r: FtpReply): string {
  const last = r.lines[r.lines.length - 1] ?? '';
  return last.slice(0, 200);
}

/** What replies are read from and commands written to (FtpLines, or a gateway's handshake LineIo). */
export interface LineSource {
  line(): Promise<string>;
  write(text: string): void;
}

/**
 * A whole reply: `123-` opens a multi-line reply that ends at a line starting `123 `
 * (RFC 959 4.2). A line without a 3-digit code where one must be is a bad server.
 */
export async function readReply(src: LineSource): Promise<FtpReply> {
  const first = await src.line();
  const m = /^(\d{3})([ -]|$)/.exec(first);
  if (m === null) throw proxyError('PRX_ERR_FTP_UPSTREAM', `not an FTP reply: ${first.slice(0, 80)}`);
  const lines = [first];
  if (m[2] === '-') {
    const end = `${m[1]} `;
    for (;;) {
      const l = await src.line();
      lines.push(l);
      if (l.startsWith(end) || l === m[1]) break;
    }
  }
  return { code: Number(m[1]), lines };
}

async function command(src: LineSource, line: string): Promise<FtpReply> {
  src.write(`${line}\r\n`);
  return readReply(src);
}

/** Line-oriented access to one control connection (client or server side). */
export class FtpLines implements LineSource {
  private readonly reader: SocketReader;

  constructor(
    readonly socket: Socket,
    closedError: () => ProxyError,
    private readonly tooLong: ErrorCode = 'PRX_ERR_FTP_PROTOCOL',
  ) {
    this.reader = new SocketReader(socket, closedError);
  }

  /** The next line without CRLF (a bare LF is accepted, as 3proxy's sockgetlinebuf does). */
  async line(): Promise<string> {
    let raw: Buffer;
    try {
      raw = await this.reader.readUntil('\n', FTP_MAX_LINE);
    } catch (err) {
      if ((err as ProxyError).code === 'PRX_ERR_REQUEST_TOO_LARGE') throw proxyError(this.tooLong, `line longer than ${FTP_MAX_LINE} bytes`);
      throw err;
    }
    return raw.toString('latin1').replace(/\r?\n$/, '');
  }

  /** A whole reply (see readReply). */
  reply(): Promise<FtpReply> {
    return readReply(this);
  }

  write(text: string): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(text, 'latin1');
  }

  /** Sends a command and reads its reply. */
  command(line: string): Promise<FtpReply> {
    return command(this, line);
  }

  release(): void {
    this.reader.release();
  }
}

/** The server's greeting, then USER (and PASS when asked for). */
export interface LoginResult {
  readonly ok: boolean;
  /** The server's last reply: the client's answer to its own login when relayed. */
  readonly reply: FtpReply;
}

/**
 * 3proxy's ftplogin: the greeting must be 2xx (120 "ready in n minutes" is waited out), USER
 * (anonymous when none), then PASS if the server asks for it with 3xx. `ok` is a final 2xx.
 */
export async function ftpLogin(io: LineSource, user: string, password: string): Promise<LoginResult> {
  let greeting = await readReply(io);
  while (greeting.code === 120) greeting = await readReply(io);
  if (Math.floor(greeting.code / 100) !== 2) throw proxyError('PRX_ERR_FTP_UPSTREAM', `greeting ${replyMessage(greeting)}`);
  let reply = await command(io, `USER ${user}`);
  if (Math.floor(reply.code / 100) === 3) reply = await command(io, `PASS ${password}`);
  return { ok: Math.floor(reply.code / 100) === 2, reply };
}

/** `h1,h2,h3,h4,p1,p2` -> address and port; null when malformed. */
export function parseHostPortTuple(text: string): { address: string; port: number } | null {
  const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(text);
  if (m === null) return null;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return null;
  const port = n[4]! * 256 + n[5]!;
  if (port === 0) return null;
  return { address: n.slice(0, 4).join('.'), port };
}

/** The `227 ... (h1,h2,h3,h4,p1,p2)` reply to PASV. */
export function formatPasv(address: string, port: number): string {
  return `227 Entering Passive Mode (${address.split('.').join(',')},${port >> 8},${port & 255})`;
}

/** The port of a `229 ... (|||port|)` reply to EPSV; null when malformed. */
export function parseEpsv(text: string): number | null {
  const m = /\((.)\1\1(\d{1,5})\1\)/.exec(text);
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? port : null;
}

/** `EPRT |1|a.b.c.d|port|` or `|2|v6|port|` (RFC 2428); null when malformed. */
export function parseEprt(arg: string): { address: string; port: number } | null {
  const d = arg.charAt(0);
  if (d === '' || /[0-9a-zA-Z.:]/.test(d)) return null;
  const parts = arg.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') return null;
  const [, af, address = '', portText = ''] = parts;
  const family = isIP(address);
  if (!((af === '1' && family === 4) || (af === '2' && family === 6))) return null;
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { address, port } : null;
}

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as the plain IPv4 address PASV replies can carry. */
export function plainIpv4(address: string): string | null {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIP(a) === 4 ? a : null;
}

/**
 * Asks the server for a passive data port: PASV on IPv4, EPSV on IPv6. The address in a 227
 * reply is ignored (servers behind NAT announce private ones): data goes to the control peer.
 */
export async function passivePort(io: FtpLines, ipv6: boolean): Promise<number> {
  const r = await io.command(ipv6 ? 'EPSV' : 'PASV');
  const port = r.code === 229 ? parseEpsv(replyMessage(r)) : r.code === 227 ? (parseHostPortTuple(replyMessage(r).slice(4))?.port ?? null) : null;
  if (port === null) throw proxyError('PRX_ERR_FTP_UPSTREAM', `${ipv6 ? 'EPSV' : 'PASV'} refused: ${replyMessage(r)}`);
  return port;
}
