/**
 * socks end to end with clients nobody here wrote: curl (--socks4, --socks4a, --socks5,
 * --socks5-hostname, with and without -U) and PySocks (CONNECT, UDP ASSOCIATE), against real
 * upstreams on 127.0.0.1 and [::1].
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { join } from 'node:path';
import { httpServer, type Fixture } from '../helpers/servers';
import { curl } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const config = (extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
users: { u: "CL:p" }
services:
  - name: socks
    type: socks
    listen: 127.0.0.1:0
${extra}`;

function python(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = join(__dirname, 'fixtures', 'pysocks_client.py');
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [script, ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : 1, stdout, stderr });
    });
  });
}

function udpEcho(): Promise<{ socket: DgramSocket; port: number }> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.on('message', (msg, rinfo) => socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    socket.bind(0, '127.0.0.1', () => resolve({ socket, port: socket.address().port }));
  });
}

describe('socks service with real clients', () => {
  let web: Fixture;
  let web6: Fixture;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    web = await httpServer();
    // No skipping: if ::1 is unavailable this fails loudly.
    web6 = await httpServer(undefined, '::1');
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await web.close();
    await web6.close();
  });

  it.each([
    ['--socks4', 'socks4', '127.0.0.1'],
    ['--socks4a', 'socks4', 'localhost'],
    ['--socks5', 'socks5', '127.0.0.1'],
    ['--socks5-hostname', 'socks5', 'localhost'],
  ])('curl %s CONNECT without auth', async (flag, _protocol, host) => {
    proxy = await startProxy(config());
    const r = await curl([flag, `127.0.0.1:${proxy.ports['socks']!}`, `http://localhost:${web.port}/hello`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello world');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ serviceLogName: 'SOCKS', operation: 'CONNECT', code: 0, host, requestedPort: web.port, remotePort: web.port });
    expect(rec!.text).toBe(`CONNECT ${host}:${web.port}`);
    expect(rec!.bytesIn).toBeGreaterThan(11);
  });

  it('curl --socks5 and --socks5-hostname with -U against auth strong', async () => {
    proxy = await startProxy(config('    auth: [strong]\n'));
    const port = proxy.ports['socks']!;
    const ok = await curl(['--socks5', `127.0.0.1:${port}`, '-U', 'u:p', `http://127.0.0.1:${web.port}/hello`]);
    expect(ok.stdout).toBe('hello world');
    const ok2 = await curl(['--socks5-hostname', `127.0.0.1:${port}`, '-U', 'u:p', `http://localhost:${web.port}/hello`]);
    expect(ok2.stdout).toBe('hello world');
    const bad = await curl(['--socks5', `127.0.0.1:${port}`, '-U', 'u:wrong', `http://127.0.0.1:${web.port}/hello`]);
    expect(bad.code).not.toBe(0);
    const none = await curl(['--socks5', `127.0.0.1:${port}`, `http://127.0.0.1:${web.port}/hello`]);
    expect(none.code).not.toBe(0);
    const recs = await proxy.waitForRecords(4);
    expect(recs.map((r) => [r.user, r.code, r.errorCode])).toEqual([
      ['u', 0, null],
      ['u', 0, null],
      ['u', 6, 'PRX_ERR_AUTH_BAD_PASSWORD'],
      [null, 4, 'PRX_ERR_AUTH_REQUIRED'],
    ]);
  });

  it('curl --socks4 with -U hands the user id to auth (useronly)', async () => {
    proxy = await startProxy(config('    auth: [useronly]\n'));
    const port = proxy.ports['socks']!;
    const ok = await curl(['--socks4', `127.0.0.1:${port}`, '-U', 'u:', `http://127.0.0.1:${web.port}/hello`]);
    expect(ok.stdout).toBe('hello world');
    const refused = await curl(['--socks4', `127.0.0.1:${port}`, `http://127.0.0.1:${web.port}/hello`]);
    expect(refused.code).not.toBe(0);
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => [r.user, r.code])).toEqual([
      ['u', 0],
      [null, 4],
    ]);
  });

  it('reaches an IPv6 target on [::1] (SOCKS5 ATYP 4)', async () => {
    proxy = await startProxy(config());
    const r = await curl(['--socks5', `127.0.0.1:${proxy.ports['socks']!}`, `http://[::1]:${web6.port}/hello`]);
    expect(r.stdout).toBe('hello world');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 0, requestedIp: '::1', remoteIp: '::1', text: `CONNECT [::1]:${web6.port}` });
  });

  it('PySocks CONNECT', async () => {
    proxy = await startProxy(config());
    const r = await python(['connect', String(proxy.ports['socks']!), '127.0.0.1', String(web.port)]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('hello world');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'CONNECT', code: 0 });
  });

  it('PySocks UDP ASSOCIATE: a UDP echo answers through the relay', async () => {
    const echo = await udpEcho();
    try {
      proxy = await startProxy(config());
      const r = await python(['udp', String(proxy.ports['socks']!), '127.0.0.1', String(echo.port)]);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(`echo:query-1 127.0.0.1 ${echo.port}`);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ operation: 'UDPASSOC', code: 0, bytesOut: 7, bytesIn: 12 });
    } finally {
      echo.socket.close();
    }
  });
});
