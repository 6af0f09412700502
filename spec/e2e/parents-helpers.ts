/**
 * Real peer proxies for the parent tests (Debian packages tinyproxy and dante-server), each
 * with a config in a temp dir on a free loopback port, plus small in-test peers: a SOCKS5
 * server with user/password and a capture server that records the bytes it receives.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect, isIP, type Socket, type AddressInfo } from 'node:net';
import { closedPort } from '../helpers/servers';

export interface Peer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts `cmd` and resolves once its output matches `ready`. */
function startProcess(cmd: string, args: string[], ready: RegExp, dir: string, port: number): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.search(ready) >= 0) {
        resolve({
          port,
          stop: async () => {
            proc.kill('SIGTERM');
            await exited;
            rmSync(dir, { recursive: true, force: true });
          },
        });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => reject(new RangeError(`${cmd} exited (${code}): ${out}`)));
    proc.once('error', reject);
  });
}

export async function tinyproxy(): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-tinyproxy-'));
  const port = await closedPort();
  const conf = join(dir, 'tinyproxy.conf');
  // No ConnectPort line: CONNECT is allowed to every port.
  writeFileSync(conf, `Port ${port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\nLogLevel Info\nUser nobody\nGroup nogroup\n`);
  return startProcess('tinyproxy', ['-d', '-c', conf], /Accepting connections/, dir, port);
}

export interface DanteLogin {
  readonly user: string;
  readonly password: string;
}

/**
 * dante-server on a free loopback port. With `login`, `socksmethod: username` (RFC 1929 checked
 * against the system password database): a throwaway system user is created with useradd and
 * chpasswd (tests run as root) and removed by stop().
 */
export async function dante(login?: DanteLogin): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-dante-'));
  const port = await closedPort();
  const conf = join(dir, 'danted.conf');
  if (login !== undefined) {
    execFileSync('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', login.user]);
    execFileSync('chpasswd', [], { input: `${login.user}:${login.password}\n` });
  }
  writeFileSync(
    conf,
    [
      'logoutput: stderr',
      `internal: 127.0.0.1 port = ${port}`,
      'external: 127.0.0.1',
      'clientmethod: none',
      `socksmethod: ${login === undefined ? 'none' : 'username'}`,
      'user.privileged: root',
      'user.unprivileged: nobody',
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      '',
    ].join('\n'),
  );
  const removeUser = (): void => {
    if (login !== undefined) execFileSync('userdel', [login.user]);
  };
  try {
    const peer = await startProcess('danted', ['-f', conf, '-N', '1'], /running/, dir, port);
    return {
      port,
      stop: async () => {
        await peer.stop();
        removeUser();
      },
    };
  } catch (err) {
    removeUser();
    throw err;
  }
}

/**
 * A raw SOCKS5 request (no auth; `cmd` 1 CONNECT, 3 UDP ASSOCIATE) for `host:port` through the
 * proxy on `proxyPort`: the reply byte and the socket. IPv4 literals go as ATYP 1, names as 3.
 */
export async function socks5Request(proxyPort: number, host: string, port: number, cmd = 1): Promise<{ rep: number; socket: Socket }> {
  const socket = connect({ host: '127.0.0.1', port: proxyPort });
  let buf = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  const ended = new Promise<void>((r) => {
    socket.once('close', () => r());
    socket.once('error', () => r());
  });
  const read = async (n: number): Promise<Buffer> => {
    while (buf.length < n) {
      const more = new Promise<void>((r) => waiters.push(r));
      await Promise.race([more, ended]);
      if (buf.length < n && socket.destroyed) throw new RangeError(`SOCKS5 peer closed after ${buf.length} bytes`);
    }
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  };
  socket.write(Buffer.from([5, 1, 0]));
  const method = await read(2);
  if (method[1] !== 0) throw new RangeError(`SOCKS5 method ${method[1]}`);
  const name = Buffer.from(host);
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  const addr = isIP(host) === 4 ? Buffer.from([1, ...host.split('.').map(Number)]) : Buffer.concat([Buffer.from([3, name.length]), name]);
  socket.write(Buffer.concat([Buffer.from([5, cmd, 0]), addr, p]));
  const head = await read(10);
  return { rep: head[1]!, socket };
}

export interface SocksPeer extends Peer {
  /** "user:password" pairs the peer saw, in order. */
  readonly logins: string[];
}

/** A minimal SOCKS5 server (RFC 1928/1929): user/password required, CONNECT only. */
export function socks5Peer(user: string, password: string): Promise<SocksPeer> {
  const logins: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => c.destroy());
    let buf = Buffer.alloc(0);
    let stage = 0;
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2 && buf.length >= 2 + buf[1]!) {
        buf = buf.subarray(2 + buf[1]!);
        c.write(Buffer.from([5, 2]));
        stage = 1;
      }
      if (stage === 1 && buf.length >= 2) {
        const ul = buf[1]!;
        if (buf.length < 3 + ul || buf.length < 3 + ul + buf[2 + ul]!) return;
        const u = buf.subarray(2, 2 + ul).toString();
        const p = buf.subarray(3 + ul, 3 + ul + buf[2 + ul]!).toString();
        buf = buf.subarray(3 + ul + buf[2 + ul]!);
        logins.push(`${u}:${p}`);
        const ok = u === user && p === password;
        c.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) return void c.end();
        stage = 2;
      }
      if (stage === 2 && buf.length >= 10 && buf[3] === 1) {
        const host = [...buf.subarray(4, 8)].join('.');
        const port = buf.readUInt16BE(8);
        const rest = buf.subarray(10);
        stage = 3;
        c.removeListener('data', onData);
        c.pause();
        const up = connect({ host, port }, () => {
          c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
          if (rest.length > 0) up.write(rest);
          c.pipe(up).pipe(c);
        });
        up.on('error', () => {
          c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
        });
        c.on('close', () => up.destroy());
      }
    };
    c.on('data', onData);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        logins,
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export interface CapturePeer extends Peer {
  /** Resolves with everything the next connection sent, once it has sent `n` bytes. */
  next(n: number): Promise<{ bytes: Buffer; remoteAddress: string }>;
}

/** Records what a connection sends and answers "ok". */
export function capturePeer(host = '127.0.0.1'): Promise<CapturePeer> {
  const waiting: { n: number; resolve: (v: { bytes: Buffer; remoteAddress: string }) => void }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.on('error', () => c.destroy());
    const w = waiting.shift();
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (w !== undefined && buf.length >= w.n) {
        w.resolve({ bytes: buf, remoteAddress: c.remoteAddress ?? '' });
        c.end('ok');
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        next: (n) => new Promise((r) => waiting.push({ n, resolve: r })),
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
