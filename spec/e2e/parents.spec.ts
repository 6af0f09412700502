/**
 * Parent chains end to end on loopback: tinyproxy as an HTTP CONNECT parent, dante as a SOCKS5
 * and SOCKS4 parent, both in a two-hop chain, an in-test SOCKS5 peer for user/password, `ha`
 * (PROXY v1 to the next hop), `extip` and `external` checked by the source address the
 * upstream sees, and the failure codes with no socket left behind.
 */
import { echoServer, httpServer, blackHole, closedPort, type Fixture } from '../helpers/servers';
import { curl, tcpConnect } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { tinyproxy, dante, socks5Peer, capturePeer, type Peer } from './parents-helpers';

const mapper = (target: string, parents: string, extra = ''): string => `
version: 1
parentRetries: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: ${target}
    accessLog: { to: none, format: json }
    timeouts: { connect: 2s }
    acl:
      - allow: {}
        parents: ${parents}
${extra}`;

/** Writes `text`, reads the echo, then closes (tinyproxy does not relay half-close). */
async function echoThrough(proxy: RunningProxy, text = 'ping through parents'): Promise<string> {
  const c = await tcpConnect(proxy.ports['m']!);
  return new Promise((resolve) => {
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) {
        c.end();
        resolve(got);
      }
    });
    c.once('end', () => {
      c.destroy();
      resolve(got);
    });
    c.once('close', () => resolve(got));
    c.write(text);
  });
}

describe('parent chains with real peers', () => {
  let echo: Fixture;
  let web: Fixture;
  let tiny: Peer;
  let socks: Peer;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    [echo, web, tiny, socks] = await Promise.all([echoServer(), httpServer(), tinyproxy(), dante()]);
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await Promise.all([echo.close(), web.close(), tiny.stop(), socks.stop()]);
  });

  it('tunnels through tinyproxy with CONNECT', async () => {
    proxy = await startProxy(mapper(`127.0.0.1:${echo.port}`, `[{ type: connect, host: 127.0.0.1, port: ${tiny.port} }]`));
    expect(await echoThrough(proxy)).toBe('ping through parents');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 0, remotePort: tiny.port, hops: 1, bytesOut: 20, bytesIn: 20 });
  });

  it('serves curl through dante as a SOCKS5 parent and as socks4', async () => {
    proxy = await startProxy(mapper(`127.0.0.1:${web.port}`, `[{ type: socks5, host: 127.0.0.1, port: ${socks.port} }]`));
    const r = await curl([`http://127.0.0.1:${proxy.ports['m']!}/hello`]);
    expect(r.stdout).toBe('hello world');
    await proxy.stop();
    proxy = await startProxy(mapper(`127.0.0.1:${echo.port}`, `[{ type: socks4, host: 127.0.0.1, port: ${socks.port} }]`));
    expect(await echoThrough(proxy)).toBe('ping through parents');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, remotePort: socks.port });
  });

  it('chains two hops: tinyproxy then dante (socks5+ sends the name)', async () => {
    proxy = await startProxy(
      mapper(`localhost:${echo.port}`, `[{ type: connect, host: 127.0.0.1, port: ${tiny.port} }, { type: socks5+, host: 127.0.0.1, port: ${socks.port} }]`),
    );
    const got = await echoThrough(proxy);
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, hops: 2, remotePort: tiny.port });
    expect(got).toBe('ping through parents');
  });

  it('sends user and password to a SOCKS5 parent; a wrong password is code 55', async () => {
    const peer = await socks5Peer('alice', 's3cret');
    try {
      proxy = await startProxy(mapper(`127.0.0.1:${echo.port}`, `[{ type: socks5, host: 127.0.0.1, port: ${peer.port}, user: alice, password: s3cret }]`));
      expect(await echoThrough(proxy)).toBe('ping through parents');
      expect(peer.logins).toEqual(['alice:s3cret']);
      await proxy.stop();
      proxy = await startProxy(mapper(`127.0.0.1:${echo.port}`, `[{ type: socks5, host: 127.0.0.1, port: ${peer.port}, user: alice, password: wrong }]`));
      expect(await echoThrough(proxy)).toBe('');
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 55, errorCode: 'PRX_ERR_PARENT_SOCKS5_AUTH' });
    } finally {
      await peer.stop();
    }
  });

  it('ha writes a PROXY v1 header to the next hop, byte for byte', async () => {
    const cap = await capturePeer();
    try {
      proxy = await startProxy(mapper(`127.0.0.1:${cap.port}`, `[{ type: ha, host: 0.0.0.0, port: 0 }]`));
      const c = await tcpConnect(proxy.ports['m']!);
      const seen = cap.next(45);
      c.write('hello');
      const { bytes } = await seen;
      expect(bytes.toString()).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${c.localPort} ${proxy.ports['m']}\r\nhello`);
      c.destroy();
    } finally {
      await cap.stop();
    }
  });

  it('ha after a hop sends the header through the tunnel to the target', async () => {
    const cap = await capturePeer();
    try {
      proxy = await startProxy(mapper(`127.0.0.1:${cap.port}`, `[{ type: socks5, host: 127.0.0.1, port: ${socks.port} }, { type: ha, host: 0.0.0.0, port: 0 }]`));
      const c = await tcpConnect(proxy.ports['m']!);
      const seen = cap.next(45);
      c.write('hello');
      const { bytes } = await seen;
      expect(bytes.toString()).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${c.localPort} ${proxy.ports['m']}\r\nhello`);
      c.destroy();
    } finally {
      await cap.stop();
    }
  });

  it('binds the source address from external and from extip', async () => {
    const cap = await capturePeer();
    try {
      proxy = await startProxy(mapper(`127.0.0.1:${cap.port}`, `[{ type: extip, host: 127.0.0.3, port: 0 }]`, '    external: 127.0.0.2\n'));
      const c = await tcpConnect(proxy.ports['m']!);
      const seen = cap.next(1);
      c.write('x');
      expect((await seen).remoteAddress).toBe('127.0.0.3');
      c.destroy();
      const rec = (await proxy.waitForRecords(1))[0]!;
      expect(rec.externalIp).toBe('127.0.0.3');
      await proxy.stop();
      proxy = await startProxy(`
version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${cap.port}
    external: 127.0.0.2
    accessLog: { to: none, format: json }
`);
      const d = await tcpConnect(proxy.ports['m']!);
      const seen2 = cap.next(1);
      d.write('y');
      expect((await seen2).remoteAddress).toBe('127.0.0.2');
      d.destroy();
    } finally {
      await cap.stop();
    }
  });
});

describe('parent failures', () => {
  let proxy: RunningProxy | null = null;
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });

  it('an unreachable parent is the connect error (13)', async () => {
    const dead = await closedPort();
    proxy = await startProxy(mapper('127.0.0.1:9', `[{ type: socks5, host: 127.0.0.1, port: ${dead} }]`));
    expect(await echoThrough(proxy)).toBe('');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 13, errorCode: 'PRX_ERR_CONNECT_REFUSED' });
  });

  it('a silent parent times out and its socket is closed', async () => {
    const hole = await blackHole();
    try {
      proxy = await startProxy(mapper('127.0.0.1:9', `[{ type: connect, host: 127.0.0.1, port: ${hole.port} }]`).replace('connect: 2s', 'connect: 300ms'));
      expect(await echoThrough(proxy)).toBe('');
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 13, errorCode: 'PRX_ERR_PARENT_TIMEOUT' });
      // The hole never reads: resume its sockets so they see our close.
      await Promise.all([...hole.sockets].map((s) => new Promise((r) => (s.closed ? r(null) : (s.once('close', r), s.resume())))));
      expect(hole.sockets.size).toBe(0);
    } finally {
      await hole.close();
    }
  });

  it('a blocked name (nsrecord 0.0.0.0) is code 100, directly and before a non-"+" parent handshake', async () => {
    const echo = await echoServer();
    try {
      const blocked = 'resolver: { hosts: { blocked.test: 0.0.0.0 } }\n';
      proxy = await startProxy(blocked + mapper('blocked.test:80', `[{ type: socks5, host: 127.0.0.1, port: ${echo.port} }]`));
      expect(await echoThrough(proxy)).toBe('');
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 100, errorCode: 'PRX_ERR_DNS_NOT_FOUND' });
      await proxy.stop();
      proxy = await startProxy(`${blocked}version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: blocked.test:80
    accessLog: { to: none, format: json }
`);
      expect(await echoThrough(proxy)).toBe('');
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 100, errorCode: 'PRX_ERR_DNS_NOT_FOUND' });
    } finally {
      await echo.close();
    }
  });
});
