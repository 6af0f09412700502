/**
 * Real peer proxies for the parent tests (Debian packages tinyproxy and dante-server), each
 * with a config in a temp dir on a free loopback port, plus small in-test peers: a SOCKS5
 * server with user/password and a capture server that records the bytes it receives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
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
      if (ready.test(out)) {
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

export async function dante(): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-dante-'));
  const port = await closedPort();
  const conf = join(dir, 'danted.conf');
  writeFileSync(
    conf,
    [
      'logoutput: stderr',
      `internal: 127.0.0.1 port = ${port}`,
      'external: 127.0.0.1',
      'clientmethod: none',
      'socksmethod: none',
      'user.privileged: root',
      'user.unprivileged: nobody',
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      '',
    ].join('\n'),
  );
  return startProcess('danted', ['-f', conf, '-N', '1'], /running/, dir, port);
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
