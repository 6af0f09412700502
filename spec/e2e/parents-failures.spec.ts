/**
 * What clients see when connecting fails, and the address-family policy:
 *
 *   -6 / -46 / -4 against an IPv6-only target on [::1] whose name (from a loopback DNS fixture)
 *   also has an A record 127.0.0.1 where nothing listens;
 *   an unreachable parent through the HTTP proxy (502 page naming the code) and SOCKS5 (reply);
 *   NXDOMAIN from the DNS fixture seen by both clients;
 *   UDP ASSOCIATE under an ACL rule with parents: refused (70 for a non-SOCKS5 hop, 999 for a chain);
 *   and no session or socket left behind.
 */
import { echoServer, closedPort, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { dnsFixture, type DnsFixture } from '../net/dns-fixture';
import { socks5Request } from './parents-helpers';

const log = 'accessLog: { to: none, format: json }';

/** TCP sockets this process holds (clients, upstream sockets), not listeners. */
function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

/** Waits (on event-loop turns, not timers) until the socket count is at most `n`; returns the count. */
async function socketsBackTo(n: number): Promise<number> {
  for (let i = 0; i < 200 && tcpSockets() > n; i++) await new Promise((r) => setImmediate(r));
  return tcpSockets();
}

let proxy: RunningProxy | null = null;
afterEach(async () => {
  if (proxy !== null) {
    await proxy.stop();
    proxy = null;
  }
});

describe('address family policy against an IPv6-only target', () => {
  let dns: DnsFixture;
  let echo6: Fixture;
  beforeAll(async () => {
    [dns, echo6] = await Promise.all([dnsFixture(), echoServer('::1')]);
    // Both families: the A record points where nothing listens (same port on 127.0.0.1).
    dns.records.set('dual.test/A', ['127.0.0.1']);
    dns.records.set('dual.test/AAAA', ['::1']);
  });
  afterAll(async () => {
    await Promise.all([dns.close(), echo6.close()]);
  });

  const mapper = (family: string): string => `
version: 1
resolver: { servers: ["127.0.0.1:${dns.port}"], timeout: 2s, cacheSize: 0, cacheSize6: 0 }
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: dual.test:${echo6.port}
    ${log}
    timeouts: { connect: 2s }
    options: { family: "${family}" }
`;
  async function through(): Promise<string> {
    const c = await tcpConnect(proxy!.ports['m']!);
    const got = readAll(c);
    c.end('v6 please');
    return (await got).toString();
  }

  it('the IPv4 port really is closed (the premise of the fallback)', async () => {
    await expect(tcpConnect(echo6.port, '127.0.0.1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('-6 asks only for AAAA and reaches ::1', async () => {
    dns.queries.length = 0;
    proxy = await startProxy(mapper('6'));
    expect(await through()).toBe('v6 please');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, requestedIp: '::1', remoteIp: '::1', remotePort: echo6.port });
    expect(dns.queries).toEqual(['udp:dual.test/AAAA']);
  });

  it('-46 tries 127.0.0.1 first, is refused, and falls back to ::1', async () => {
    dns.queries.length = 0;
    proxy = await startProxy(mapper('46'));
    expect(await through()).toBe('v6 please');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, requestedIp: '::1', remoteIp: '::1' });
    expect([...dns.queries].sort()).toEqual(['udp:dual.test/A', 'udp:dual.test/AAAA']);
  });

  it('-4 only has 127.0.0.1: connection refused, code 13', async () => {
    proxy = await startProxy(mapper('4'));
    expect(await through()).toBe('');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 13, errorCode: 'PRX_ERR_CONNECT_REFUSED' });
    await proxy.rt.whenIdle();
    expect(proxy.rt.liveConnections()).toBe(0);
  });
});

describe('client-visible failures', () => {
  let dns: DnsFixture;
  let echo: Fixture;
  beforeAll(async () => {
    [dns, echo] = await Promise.all([dnsFixture(), echoServer()]);
    dns.records.set('known.test/A', ['127.0.0.1']);
  });
  afterAll(async () => {
    await Promise.all([dns.close(), echo.close()]);
  });

  /** An HTTP proxy and a SOCKS service with the same ACL rule; names resolve at the DNS fixture. */
  const services = (rule: string): string => `
version: 1
parentRetries: 1
resolver: { servers: ["127.0.0.1:${dns.port}"], timeout: 2s }
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    ${log}
    timeouts: { connect: 2s }
    acl: [${rule}]
  - name: s
    type: socks
    listen: 127.0.0.1:0
    ${log}
    timeouts: { connect: 2s }
    acl: [${rule}]
`;

  /** One request through each client; the page and the reply byte, then checks nothing is left. */
  async function bothClients(host: string, port: number): Promise<{ page: string; rep: number }> {
    const before = tcpSockets();
    const r = await curl(['-i', '-x', `http://127.0.0.1:${proxy!.ports['http']!}`, `http://${host}:${port}/`]);
    const { rep, socket } = await socks5Request(proxy!.ports['s']!, host, port);
    // 3proxy closes after a failed reply: the SOCKS client sees the end.
    await new Promise((r2) => (socket.destroyed ? r2(null) : socket.once('close', r2)));
    await proxy!.waitForRecords(2);
    await proxy!.rt.whenIdle();
    expect(proxy!.rt.liveConnections()).toBe(0);
    expect(await socketsBackTo(before)).toBeLessThanOrEqual(before);
    return { page: r.stdout, rep };
  }

  it('an unreachable parent: 502 naming PRX_ERR_CONNECT_REFUSED (13), SOCKS5 reply 05', async () => {
    const dead = await closedPort();
    proxy = await startProxy(services(`{ allow: {}, parents: [{ type: socks5, host: 127.0.0.1, port: ${dead} }] }`));
    const { page, rep } = await bothClients('127.0.0.1', echo.port);
    expect(page).toMatch(/^HTTP\/1\.0 502 Bad Gateway\r\n/);
    expect(page).toContain('PRX_ERR_CONNECT_REFUSED (13)');
    expect(rep).toBe(0x05);
    for (const service of ['http', 's']) {
      expect(proxy.records.find((x) => x.service === service)).toMatchObject({ code: 13, errorCode: 'PRX_ERR_CONNECT_REFUSED', hops: 1 });
    }
  });

  it('an unreachable connect parent for a name: same codes, the name never reached the DNS server', async () => {
    const dead = await closedPort();
    dns.queries.length = 0;
    proxy = await startProxy(services(`{ allow: {}, parents: [{ type: connect+, host: 127.0.0.1, port: ${dead} }] }`));
    const { page, rep } = await bothClients('known.test', echo.port);
    expect(page).toContain('PRX_ERR_CONNECT_REFUSED (13)');
    expect(rep).toBe(0x05);
    expect(dns.queries).toEqual([]);
  });

  it('NXDOMAIN: 502 naming PRX_ERR_DNS_NOT_FOUND (100), SOCKS5 reply 04', async () => {
    dns.queries.length = 0;
    proxy = await startProxy(services('{ allow: {} }'));
    const { page, rep } = await bothClients('nx.test', echo.port);
    expect(page).toMatch(/^HTTP\/1\.0 502 Bad Gateway\r\n/);
    expect(page).toContain('PRX_ERR_DNS_NOT_FOUND (100)');
    expect(rep).toBe(0x04);
    for (const service of ['http', 's']) {
      expect(proxy.records.find((x) => x.service === service)).toMatchObject({ code: 100, errorCode: 'PRX_ERR_DNS_NOT_FOUND', host: 'nx.test' });
    }
    expect(dns.queries).toContain('udp:nx.test/A');
  });
});

describe('UDP ASSOCIATE under a rule with parents', () => {
  const socksWith = (parents: string): string => `
version: 1
services:
  - name: s
    type: socks
    listen: 127.0.0.1:0
    ${log}
    acl: [{ allow: {}, parents: ${parents} }]
`;

  async function associate(): Promise<number> {
    const { rep, socket } = await socks5Request(proxy!.ports['s']!, '0.0.0.0', 0, 3);
    await new Promise((r) => (socket.destroyed ? r(null) : socket.once('close', r)));
    return rep;
  }

  it('a non-SOCKS5 hop is refused with 3proxy code 70 (reply 04) instead of going direct', async () => {
    proxy = await startProxy(socksWith('[{ type: connect, host: 127.0.0.1, port: 3128 }]'));
    expect(await associate()).toBe(0x04);
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 70, errorCode: 'PRX_ERR_PARENT_UDP', operation: 'UDPASSOC' });
    await proxy.rt.whenIdle();
    expect(proxy.rt.liveConnections()).toBe(0);
  });

  it('two SOCKS5 hops are refused as not implemented (reply 07); an unreachable SOCKS5 parent is 13; extip alone associates', async () => {
    const dead = await closedPort();
    const hop = `{ type: socks5, host: 127.0.0.1, port: ${dead} }`;
    proxy = await startProxy(socksWith(`[${hop}, ${hop}]`));
    expect(await associate()).toBe(0x07);
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 999, errorCode: 'PRX_ERR_NOT_IMPLEMENTED' });
    await proxy.stop();
    proxy = await startProxy(socksWith(`[${hop}]`));
    expect(await associate()).not.toBe(0x00);
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 13, errorCode: 'PRX_ERR_CONNECT_REFUSED', operation: 'UDPASSOC' });
    await proxy.stop();
    proxy = await startProxy(socksWith('[{ type: extip, host: 127.0.0.1, port: 0 }]'));
    const { rep, socket } = await socks5Request(proxy.ports['s']!, '0.0.0.0', 0, 3);
    expect(rep).toBe(0x00);
    socket.destroy();
  });
});
