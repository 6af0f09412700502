/**
 * tcppm end to end: a real listener on 127.0.0.1:0 forwarding to real upstreams (a TCP echo
 * server, an HTTP server driven by curl), with access records in JSON and in a 3proxy format.
 */
import { echoServer, httpServer, blackHole, closedPort, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

describe('tcppm service', () => {
  let echo: Fixture;
  let web: Fixture;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    echo = await echoServer();
    web = await httpServer();
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await echo.close();
    await web.close();
  });

  const config = (target: string, extra = '', serviceExtra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: ${target}
    accessLog: { to: none, format: json }
${serviceExtra}${extra}`;


  it('relays bytes both ways and honours half-close', async () => {
    proxy = await startProxy(config(`127.0.0.1:${echo.port}`));
    const c = await tcpConnect(proxy.ports['mapper']!);
    const got = readAll(c);
    c.write('ping ');
    c.end('pong');
    expect((await got).toString()).toBe('ping pong');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'mapper', operation: 'CONNECT', code: 0, bytesOut: 9, bytesIn: 9, remotePort: echo.port });
  });

  it('serves curl through the mapper and logs JSON and 3proxy formats', async () => {
    proxy = await startProxy(
      config(
        `127.0.0.1:${web.port}`,
        `  - name: mapper3
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${web.port}
    accessLog: { to: none, format: "- +_L%N.%p %E %U %C:%c %R:%r %O %I %T" }`,
      ),
    );
    const a = await curl([`http://127.0.0.1:${proxy.ports['mapper']!}/hello`]);
    expect(a.stdout).toBe('hello world');
    const b = await curl([`http://127.0.0.1:${proxy.ports['mapper3']!}/hello`]);
    expect(b.stdout).toBe('hello world');
    await proxy.waitForRecords(2);
    const json = proxy.lines.map((l) => l).find((l) => l.startsWith('{'));
    expect(json).toBeDefined();
    const parsed = JSON.parse(json!) as Record<string, unknown>;
    expect(parsed).toMatchObject({ service: 'mapper', user: null, operation: 'CONNECT', code: 0, error: null });
    expect(parsed['bytesIn']).toBeGreaterThan(11);
    const legacy = proxy.lines.find((l) => l.startsWith('TCPPM.'));
    expect(legacy).toMatch(new RegExp(`^TCPPM\\.${proxy.ports['mapper3']!} 00000 - 127\\.0\\.0\\.1:\\d+ 127\\.0\\.0\\.1:${web.port} \\d+ \\d+ 127\\.0\\.0\\.1:${web.port}$`));
  });

  it('logs a refused connect with code 13 and closes the client', async () => {
    const port = await closedPort();
    proxy = await startProxy(config(`127.0.0.1:${port}`));
    const c = await tcpConnect(proxy.ports['mapper']!);
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 13, errorCode: 'PRX_ERR_CONNECT_REFUSED' });
  });

  it('cuts an idle session (black-hole target) at the idle timeout', async () => {
    const hole = await blackHole();
    proxy = await startProxy(
      config(`127.0.0.1:${hole.port}`, '', '    timeouts: { idle: 300ms }\n'),
    );
    const c = await tcpConnect(proxy.ports['mapper']!);
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 92, errorCode: 'PRX_ERR_IDLE_TIMEOUT' });
    await hole.close();
  });

  it('leaves no socket behind after a client reset mid-transfer', async () => {
    proxy = await startProxy(config(`127.0.0.1:${echo.port}`));
    const c = await tcpConnect(proxy.ports['mapper']!);
    c.write('x');
    await new Promise((r) => c.once('data', r));
    c.resetAndDestroy();
    const [rec] = await proxy.waitForRecords(1);
    expect(rec!.errorCode).toBe('PRX_ERR_CLIENT_RESET');
    await proxy.rt.whenIdle();
    expect(proxy.rt.liveConnections()).toBe(0);
    // The target socket was destroyed: the echo server sees its side close.
    await Promise.all([...echo.sockets].map((s) => new Promise((r) => (s.destroyed ? r(null) : s.once('close', r)))));
    expect(echo.sockets.size).toBe(0);
  });
});
