/**
 * Client sides of the parent protocols: ask the hop we are connected to for a tunnel to
 * `to` (the next hop or the final target). 3proxy result codes: CONNECT 31-34, SOCKS4 41-44,
 * SOCKS5 51-59 and 60 + reply for refusals.
 */
import { isIP, type Socket } from 'node:net';
import { proxyError, type ProxyError } from '../errors';
import { SocketReader } from './socket-reader';
import { ipBytes } from './proxy-protocol';

export interface HopTarget {
  /** Host name (for `+` types) or address. */
  readonly host: string;
  readonly port: number;
}

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** A SOCKS5 refusal is 3proxy code 60 + the reply byte (mod 10): the code says why. */
function socks5Refused(hop: string, reply: number): ProxyError {
  const err = proxyError('PRX_ERR_PARENT_SOCKS5_REFUSED', hop, reply);
  (err as { legacyCode: number }).legacyCode = 60 + (reply % 10);
  return err;
}

/** HTTP CONNECT (connect, connect+, and http for non-HTTP services). */
export async function connectHandshake(socket: Socket, hop: string, to: HopTarget, creds: Credentials | null): Promise<void> {
  const authority = isIP(to.host) === 6 ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
  let req = `CONNECT ${authority} HTTP/1.0\r\nHost: ${authority}\r\n`;
  if (creds !== null) req += `Proxy-Authorization: Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}\r\n`;
  const reader = new SocketReader(socket, () => proxyError('PRX_ERR_PARENT_CONNECT_REPLY', hop));
  try {
    if (!socket.write(`${req}\r\n`)) {
      if (socket.destroyed) throw proxyError('PRX_ERR_PARENT_CONNECT_SEND', hop);
    }
    const head = await reader.readUntil('\r\n\r\n', 16384).catch((err: ProxyError) => {
      throw err.code === 'PRX_ERR_REQUEST_TOO_LARGE' ? proxyError('PRX_ERR_PARENT_CONNECT_HEADER', hop) : err;
    });
    const status = /^HTTP\/\d\.\d (\d{3})([^\r]*)/.exec(head.toString('latin1'));
    if (status === null) throw proxyError('PRX_ERR_PARENT_CONNECT_REPLY', hop);
    if (!status[1]!.startsWith('2')) throw proxyError('PRX_ERR_PARENT_CONNECT_REFUSED', hop, `${status[1]}${status[2]}`);
  } finally {
    reader.release();
  }
}

/** SOCKS4 (address) or SOCKS4a (`+`: host name); IPv4 only. */
export async function socks4Handshake(socket: Socket, hop: string, to: HopTarget, creds: Credentials | null, short: boolean): Promise<void> {
  const fam = isIP(to.host);
  if (fam === 6) throw proxyError('PRX_ERR_PARENT_SOCKS4_IPV6', hop, to.host);
  const head = Buffer.alloc(8);
  head[0] = 4;
  head[1] = 1;
  head.writeUInt16BE(to.port, 2);
  // SOCKS4a: address 0.0.0.1 and the name after the user id.
  (fam === 4 ? ipBytes(to.host, 4) : Buffer.from([0, 0, 0, 1])).copy(head, 4);
  const parts = [head, Buffer.from(creds?.user ?? ''), Buffer.from([0])];
  if (fam === 0) parts.push(Buffer.from(to.host), Buffer.from([0]));
  const reader = new SocketReader(socket, () => proxyError('PRX_ERR_PARENT_SOCKS4', hop, 'no reply'));
  try {
    socket.write(Buffer.concat(parts));
    const reply = short ? await reader.readSome(2) : await reader.read(8);
    if (reply[1] !== 90) throw proxyError('PRX_ERR_PARENT_SOCKS4_REFUSED', hop);
  } finally {
    reader.release();
  }
}

function socks5Address(to: HopTarget): Buffer {
  const fam = isIP(to.host);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(to.port);
  if (fam === 4) return Buffer.concat([Buffer.from([1]), ipBytes(to.host, 4), port]);
  if (fam === 6) return Buffer.concat([Buffer.from([4]), ipBytes(to.host, 6), port]);
  const name = Buffer.from(to.host);
  return Buffer.concat([Buffer.from([3, name.length]), name, port]);
}

/** Reads a SOCKS5 address (ATYP ADDR PORT) after the reply's ATYP byte. */
async function readSocks5Address(reader: SocketReader, hop: string, atyp: number | undefined): Promise<HopTarget> {
  const len = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? (await reader.read(1))[0]! : -1;
  if (len < 0) throw proxyError('PRX_ERR_PARENT_SOCKS5', hop, `bad address type ${atyp}`);
  const raw = await reader.read(len + 2);
  const port = raw.readUInt16BE(len);
  if (atyp === 3) return { host: raw.subarray(0, len).toString('latin1'), port };
  if (atyp === 1) return { host: [...raw.subarray(0, 4)].join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  return { host: groups.join(':'), port };
}

/**
 * SOCKS5 with no auth or user/password (RFC 1929): CONNECT (command 1) or UDP ASSOCIATE (3).
 * Resolves with the reply's BND address (the parent's UDP relay for command 3); null for the
 * short-reply (`socks5b`) variant, which reads only two bytes.
 */
export async function socks5Handshake(socket: Socket, hop: string, to: HopTarget, creds: Credentials | null, short: boolean, command: 1 | 3 = 1): Promise<HopTarget | null> {
  const reader = new SocketReader(socket, () => proxyError('PRX_ERR_PARENT_SOCKS5', hop, 'connection closed'));
  try {
    socket.write(creds !== null ? Buffer.from([5, 2, 0, 2]) : Buffer.from([5, 1, 0]));
    const method = await reader.read(2);
    if (method[0] !== 5) throw proxyError('PRX_ERR_PARENT_SOCKS5', hop, 'bad version');
    if (method[1] === 2 && creds !== null) {
      const u = Buffer.from(creds.user);
      const p = Buffer.from(creds.password);
      socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
      const auth = await reader.read(2);
      if (auth[1] !== 0) throw proxyError('PRX_ERR_PARENT_SOCKS5_AUTH', hop);
    } else if (method[1] !== 0) {
      throw proxyError('PRX_ERR_PARENT_SOCKS5_AUTH', hop);
    }
    socket.write(Buffer.concat([Buffer.from([5, command, 0]), socks5Address(to)]));
    const head = short && command === 1 ? await reader.readSome(2) : await reader.read(4);
    if (head[1] !== 0) throw socks5Refused(hop, head[1]!);
    if (short && command === 1) return null;
    return await readSocks5Address(reader, hop, head[3]);
  } finally {
    reader.release();
  }
}
