/**
 * More parent chains end to end on loopback: a second rx3proxy (its own Runtime, `type: socks`)
 * as a `socks4+` parent, dante with RFC 1929 user/password against a throwaway system user,
 * PROXY protocol v2 out (`ha` and `tcp` parents with `proxyProtocol: 2`) checked byte for byte,
 * and a 500/500 weight group counted over 1,000 connections.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { dante, capturePeer, socks5Request, type Peer } from './parents-helpers';
import { V2_SIGNATURE } from '../../core/net/proxy-protocol';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import type { ProxyError } from '../../core/errors';

const log = 'accessLog: { to: none, format: json }';

/** One connection through the mapper: writes `text`, returns what came back before the close. */
async function roundTrip(port: number, text: string, host = '127.0.0.1'): Promise<string> {
  const c = await tcpConnect(port, host);
  const got = readAll(c);
  c.end(text);
  return (await got).toString();
}

describe('a second rx3proxy as a socks4+ parent', () => {
  let web: Fixture;
  let first: RunningProxy | null = null;
  let second: RunningProxy | null = null;
  beforeAll(async () => {
    web = await httpServer();
  });
  afterEach(async () => {
    for (const p of [first, second]) if (p !== null) await p.stop();
    first = second = null;
  });
  afterAll(() => web.close());

  // Through tcppm, a SOCKS5 service (the connect step) and the HTTP proxy (its request goes over
  // the chain's socket, handed over paused by the handshake reader).
  it('curl -> tcppm / socks5 / http proxy -> socks4+ -> rx3proxy socks -> origin; the parent logs the name it was sent', async () => {
    second = await startProxy(`
version: 1
services:
  - name: s
    type: socks
    listen: 127.0.0.1:0
    ${log}
`, 'second.yaml');
    const parents = `[{ type: socks4+, host: 127.0.0.1, port: ${second.ports['s']!} }]`;
    first = await startProxy(`
version: 1
parentRetries: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: localhost:${web.port}
    ${log}
    acl: [{ allow: {}, parents: ${parents} }]
  - name: s1
    type: socks
    listen: 127.0.0.1:0
    ${log}
    acl: [{ allow: {}, parents: ${parents} }]
  - name: h
    type: proxy
    listen: 127.0.0.1:0
    ${log}
    acl: [{ allow: {}, parents: ${parents} }]
`, 'first.yaml');
    const viaMapper = await curl([`http://127.0.0.1:${first.ports['m']!}/hello`]);
    expect(viaMapper.stdout).toBe('hello world');
    // socks4+ is SOCKS4a: the parent got the host name, resolved it itself and logged it.
    const [rec2] = await second.waitForRecords(1);
    expect(rec2).toMatchObject({ service: 's', code: 0, host: 'localhost', requestedPort: web.port, remoteIp: '127.0.0.1', remotePort: web.port, operation: 'CONNECT' });
    expect(rec2!.bytesIn).toBeGreaterThan(0);
    const [rec1] = await first.waitForRecords(1);
    expect(rec1).toMatchObject({ service: 'm', code: 0, hops: 1, remotePort: second.ports['s'], host: 'localhost', bytesIn: rec2!.bytesIn });

    const viaSocks = await curl(['--socks5-hostname', `127.0.0.1:${first.ports['s1']!}`, `http://localhost:${web.port}/hello`]);
    expect(viaSocks.stdout).toBe('hello world');
    const recs2 = await second.waitForRecords(2);
    expect(recs2[1]).toMatchObject({ code: 0, host: 'localhost', requestedPort: web.port });
    expect((await first.waitForRecords(2))[1]).toMatchObject({ service: 's1', code: 0, hops: 1, remotePort: second.ports['s'] });

    // Two requests on one keep-alive client connection: each goes over its own chain.
    const viaHttp = await curl(['-x', `http://127.0.0.1:${first.ports['h']!}`, `http://localhost:${web.port}/hello`, `http://localhost:${web.port}/hello`]);
    expect([viaHttp.code, viaHttp.stdout]).toEqual([0, 'hello worldhello world']);
    const recs = await first.waitForRecords(4);
    expect(recs.slice(2).map((r) => [r.service, r.code, r.hops])).toEqual([['h', 0, 1], ['h', 0, 1]]);
    expect((await second.waitForRecords(4)).slice(2).map((r) => [r.code, r.host])).toEqual([[0, 'localhost'], [0, 'localhost']]);
    await first.rt.whenIdle();
    expect(first.rt.liveConnections()).toBe(0);
  });
});

describe('dante as a SOCKS5 parent with user and password', () => {
  // A throwaway system user: danted's `socksmethod: username` checks the system password database.
  const login = { user: `rx3p${process.pid % 100000}`, password: 'Pw-9x7-q' };
  let echo: Fixture;
  let socks: Peer;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    [echo, socks] = await Promise.all([echoServer(), dante(login)]);
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.rt.whenIdle();
      expect(proxy.rt.liveConnections()).toBe(0);
      await proxy.stop();
      proxy = null;
    }
  });
  afterAll(async () => {
    await Promise.all([echo.close(), socks.stop()]);
  });

  const config = (password: string): string => `
version: 1
parentRetries: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo.port}
    ${log}
    acl: [{ allow: {}, parents: [{ type: socks5, host: 127.0.0.1, port: ${socks.port}, user: ${login.user}, password: "${password}" }] }]
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    ${log}
    acl: [{ allow: {}, parents: [{ type: socks5, host: 127.0.0.1, port: ${socks.port}, user: ${login.user}, password: "${password}" }] }]
  - name: s
    type: socks
    listen: 127.0.0.1:0
    ${log}
    acl: [{ allow: {}, parents: [{ type: socks5, host: 127.0.0.1, port: ${socks.port}, user: ${login.user}, password: "${password}" }] }]
`;

  it('authenticates and relays', async () => {
    proxy = await startProxy(config(login.password));
    expect(await roundTrip(proxy.ports['m']!, 'through dante with a login')).toBe('through dante with a login');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, hops: 1, remotePort: socks.port, bytesIn: 26, bytesOut: 26 });
  });

  it('a wrong password is 3proxy code 55: HTTP 502 naming it, SOCKS5 reply 04', async () => {
    proxy = await startProxy(config('not-the-password'));
    expect(await roundTrip(proxy.ports['m']!, 'x')).toBe('');
    const r = await curl(['-i', '-x', `http://127.0.0.1:${proxy.ports['http']!}`, `http://127.0.0.1:${echo.port}/`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.0 502 Bad Gateway\r\n/);
    expect(r.stdout).toContain('PRX_ERR_PARENT_SOCKS5_AUTH (55)');
    const { rep, socket } = await socks5Request(proxy.ports['s']!, '127.0.0.1', echo.port);
    expect(rep).toBe(0x04);
    socket.destroy();
    const recs = await proxy.waitForRecords(3);
    for (const service of ['m', 'http', 's']) {
      expect(recs.find((x) => x.service === service)).toMatchObject({ code: 55, errorCode: 'PRX_ERR_PARENT_SOCKS5_AUTH' });
    }
  });
});

describe('PROXY protocol v2 out', () => {
  let proxy: RunningProxy | null = null;
  afterEach(async () => {
    if (proxy !== null) await proxy.stop();
    proxy = null;
  });

  /** The header written by hand from the spec (not with buildV2): PROXY over TCP, then addresses and ports. */
  function v2(fam: 4 | 6, src: number[], dst: number[], sport: number, dport: number): Buffer {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(sport, 0);
    ports.writeUInt16BE(dport, 2);
    const len = fam === 4 ? 12 : 36;
    return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, fam === 4 ? 0x11 : 0x21, 0, len]), Buffer.from(src), Buffer.from(dst), ports]);
  }
  const loop6 = [...Array<number>(15).fill(0), 1];

  for (const [label, listen, clientHost, fam, addr] of [
    ['IPv4', '127.0.0.1:0', '127.0.0.1', 4, [127, 0, 0, 1]],
    ['IPv6', '"[::1]:0"', '::1', 6, loop6],
  ] as const) {
    it(`an ha parent with proxyProtocol: 2 sends the binary header (${label} client)`, async () => {
      const cap = await capturePeer();
      try {
        proxy = await startProxy(`
version: 1
services:
  - name: m
    type: tcppm
    listen: ${listen}
    target: 127.0.0.1:${cap.port}
    ${log}
    acl: [{ allow: {}, parents: [{ type: ha, host: 0.0.0.0, port: 0, proxyProtocol: 2 }] }]
`);
        const c = await tcpConnect(proxy.ports['m']!, clientHost);
        const want = Buffer.concat([v2(fam, [...addr], [...addr], c.localPort!, proxy.ports['m']!), Buffer.from('hello')]);
        const seen = cap.next(want.length);
        c.write('hello');
        const { bytes } = await seen;
        expect(bytes.toString('hex')).toBe(want.toString('hex'));
        expect((await readAll(c)).toString()).toBe('ok');
        c.destroy();
      } finally {
        await cap.stop();
      }
    });
  }

  it('a tcp parent with proxyProtocol 2 / 1 writes that header to the host it redirects to', async () => {
    const cap = await capturePeer();
    try {
      for (const version of [2, 1] as const) {
        proxy = await startProxy(`
version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:9
    ${log}
    acl: [{ allow: {}, parents: [{ type: tcp, host: 127.0.0.1, port: ${cap.port}, proxyProtocol: ${version} }] }]
`);
        const c = await tcpConnect(proxy.ports['m']!);
        const head =
          version === 2
            ? v2(4, [127, 0, 0, 1], [127, 0, 0, 1], c.localPort!, proxy.ports['m']!)
            : Buffer.from(`PROXY TCP4 127.0.0.1 127.0.0.1 ${c.localPort} ${proxy.ports['m']}\r\n`);
        const want = Buffer.concat([head, Buffer.from('data')]);
        const seen = cap.next(want.length);
        c.write('data');
        expect((await seen).bytes.toString('hex')).toBe(want.toString('hex'));
        c.destroy();
        await proxy.stop();
        proxy = null;
      }
    } finally {
      await cap.stop();
    }
  });

  it('rejects proxyProtocol 3 at load, at its position', () => {
    const yaml = `
version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:9
    acl: [{ allow: {}, parents: [{ type: ha, host: 0.0.0.0, port: 0, proxyProtocol: 3 }] }]
`;
    let problems: readonly { pointer: string }[] = [];
    try {
      Runtime.fromText(yaml, 'pp3.yaml', { logger: silentLogger() });
    } catch (err) {
      problems = (err as ProxyError).errors;
    }
    expect(problems).toEqual([expect.objectContaining({ pointer: '/services/0/acl/0/parents/0/proxyProtocol' })]);
  });
});

describe('weight groups over 1,000 connections', () => {
  interface Counter {
    port: number;
    count: number;
    readonly server: Server;
    readonly sockets: Set<Socket>;
  }
  /** Answers every connection with its letter and closes; counts connections. */
  function counter(letter: string): Promise<Counter> {
    const c: Counter = { port: 0, count: 0, server: createServer(), sockets: new Set() };
    c.server.on('connection', (s) => {
      c.count++;
      c.sockets.add(s);
      s.on('close', () => c.sockets.delete(s));
      s.on('error', () => s.destroy());
      s.end(letter);
    });
    return new Promise((resolve) =>
      c.server.listen(0, '127.0.0.1', () => {
        c.port = (c.server.address() as AddressInfo).port;
        resolve(c);
      }),
    );
  }

  it('500/500 splits 1,000 connections between the two hops within 400..600', async () => {
    const [a, b] = await Promise.all([counter('A'), counter('B')]);
    const proxy = await startProxy(`
version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:9
    ${log}
    acl:
      - allow: {}
        parents:
          - { weight: 500, type: tcp, host: 127.0.0.1, port: ${a.port} }
          - { weight: 500, type: tcp, host: 127.0.0.1, port: ${b.port} }
`);
    try {
      const N = 1000;
      const seen = { A: 0, B: 0 } as Record<string, number>;
      let next = 0;
      // 20 clients at a time, each takes the next request number until all 1,000 are done.
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (next < N) {
            next++;
            const got = await roundTrip(proxy.ports['m']!, '');
            seen[got] = (seen[got] ?? 0) + 1;
          }
        }),
      );
      expect(seen['A']! + seen['B']!).toBe(N);
      // Each hop is drawn with p = 0.5, so its count is Binomial(1000, 0.5): mean 500, sd 15.8.
      // 400..600 is +-6.3 sd: P(outside) = 2 * P(Z > 6.32) ~ 2.6e-10 (exact binomial tail ~3e-10),
      // so this fails for a broken draw (e.g. always the first hop) and practically never by chance.
      expect(seen['A']).toBeGreaterThanOrEqual(400);
      expect(seen['A']).toBeLessThanOrEqual(600);
      expect(seen['B']).toBeGreaterThanOrEqual(400);
      expect(seen['B']).toBeLessThanOrEqual(600);
      expect(a.count).toBe(seen['A']);
      expect(b.count).toBe(seen['B']);
      const recs = await proxy.waitForRecords(N);
      expect(recs.filter((r) => r.remotePort === a.port)).toHaveLength(seen['A']!);
      expect(recs.every((r) => r.code === 0 && r.hops === 1)).toBe(true);
      await proxy.rt.whenIdle();
      expect(proxy.rt.liveConnections()).toBe(0);
    } finally {
      await proxy.stop();
      for (const c of [a, b]) {
        for (const s of c.sockets) s.destroy();
        await new Promise((r) => c.server.close(r));
      }
    }
  }, 60000);
});
