/**
 * PROXY protocol in (options.proxyProtocol, 3proxy -H): curl's v1 header and a raw v2 header
 * set the client address the ACL and the access log see; and the configured resolver
 * (resolver.servers) answering from a UDP DNS fixture on loopback.
 */
import { httpServer, echoServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { buildV2 } from '../../core/net/proxy-protocol';
import { dnsFixture, type DnsFixture } from '../net/dns-fixture';

describe('PROXY protocol in and the configured resolver', () => {
  let web: Fixture;
  let echo: Fixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    [web, echo] = await Promise.all([httpServer(), echoServer()]);
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await Promise.all([web.close(), echo.close()]);
  });

  const service = (target: string, extra = ''): string => `
version: 1
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: ${target}
    accessLog: { to: none, format: json }
    options: { proxyProtocol: true }
${extra}`;

  it('takes the client address from curl --haproxy-protocol (v1)', async () => {
    proxy = await startProxy(service(`127.0.0.1:${web.port}`));
    const r = await curl(['--haproxy-protocol', `http://127.0.0.1:${proxy.ports['m']!}/hello`]);
    expect(r.stdout).toBe('hello world');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 0, clientIp: '127.0.0.1' });
    expect(rec!.clientPort).toBeGreaterThan(0);
  });

  it('takes the client address from a v2 header and applies the ACL to it', async () => {
    const acl = '    acl:\n      - allow: { sources: [10.9.8.0/24] }\n';
    proxy = await startProxy(service(`127.0.0.1:${echo.port}`, acl));
    const c = await tcpConnect(proxy.ports['m']!);
    const got = readAll(c);
    c.end(Buffer.concat([buildV2({ address: '10.9.8.7', port: 5555 }, { address: '127.0.0.1', port: proxy.ports['m']! }), Buffer.from('after header')]));
    expect((await got).toString()).toBe('after header');
    expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, clientIp: '10.9.8.7', clientPort: 5555, bytesOut: 12 });
    const d = await tcpConnect(proxy.ports['m']!);
    const got2 = readAll(d);
    d.end('PROXY TCP4 10.1.1.1 127.0.0.1 4444 80\r\nxyz');
    expect((await got2).toString()).toBe('');
    expect((await proxy.waitForRecords(2))[1]).toMatchObject({ code: 3, clientIp: '10.1.1.1' });
  });

  it('closes a client whose header is not PROXY', async () => {
    proxy = await startProxy(service(`127.0.0.1:${echo.port}`));
    const c = await tcpConnect(proxy.ports['m']!);
    const got = readAll(c);
    c.end('GET / HTTP/1.0\r\n\r\n');
    expect((await got).toString()).toBe('');
    await proxy.rt.whenIdle();
    expect(echo.sockets.size).toBe(0);
  });

  describe('resolver.servers', () => {
    let dns: DnsFixture;
    beforeEach(async () => {
      dns = await dnsFixture();
      dns.records.set('echo.test/A', ['127.0.0.1']);
    });
    afterEach(() => dns.close());

    for (const suffix of ['', '/tcp']) {
      it(`resolves targets with a loopback DNS server${suffix === '' ? ' over UDP' : ' over TCP'}`, async () => {
        proxy = await startProxy(`
version: 1
resolver: { servers: ["127.0.0.1:${dns.port}${suffix}"], timeout: 2s }
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: echo.test:${echo.port}
    accessLog: { to: none, format: json }
    options: { family: "4" }
`);
        const c = await tcpConnect(proxy.ports['m']!);
        const got = readAll(c);
        c.end('resolved');
        expect((await got).toString()).toBe('resolved');
        expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 0, requestedIp: '127.0.0.1', host: 'echo.test' });
        expect(dns.queries).toEqual([`${suffix === '' ? 'udp' : 'tcp'}:echo.test/A`]);
      });
    }

    it('an unknown name and a silent server give code 100', async () => {
      dns.silent = true;
      proxy = await startProxy(`
version: 1
resolver: { servers: ["127.0.0.1:${dns.port}"], timeout: 300ms }
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: echo.test:${echo.port}
    accessLog: { to: none, format: json }
`);
      const c = await tcpConnect(proxy.ports['m']!);
      const got = readAll(c);
      c.end('x');
      expect((await got).toString()).toBe('');
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ code: 100, errorCode: 'PRX_ERR_DNS_TIMEOUT' });
    });
  });
});
