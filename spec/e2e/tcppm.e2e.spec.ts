/**
 * tcppm end to end: a real listener on 127.0.0.1:0 forwarding to real upstreams (a TCP echo
 * server, an HTTP server driven by curl), with access records in JSON and in a 3proxy format.
 */
import { echoServer, httpServer, blackHole, closedPort, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { mkdtempSync, readFileSync, renameSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

describe('service limits and access-log files', () => {
  it('holds clients beyond maxconn until a slot frees (3proxy: they wait, no error)', async () => {
    const echo = await echoServer();
    const proxy = await startProxy(`
version: 1
accessLog: { to: none }
services:
  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}", maxconn: 1 }
`);
    const port = proxy.ports['m']!;
    const a = await tcpConnect(port);
    a.write('a');
    await new Promise((r) => a.once('data', r));
    const b = await tcpConnect(port);
    b.write('b');
    let bAnswered = false;
    const bData = new Promise<void>((r) => b.once('data', () => ((bAnswered = true), r())));
    // While `a` holds the only slot, `b` is accepted by the kernel but not served.
    expect(proxy.rt.liveConnections()).toBe(1);
    const aDone = readAll(a);
    a.end();
    await aDone;
    await bData;
    expect(bAnswered).toBe(true);
    const bDone = readAll(b);
    b.end();
    await bDone;
    await proxy.waitForRecords(2);
    await proxy.stop();
    await echo.close();
  });

  it('writes records to a file in a 3proxy format and reopens it after a move', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-log-'));
    const file = join(dir, 'access.log');
    const echo = await echoServer();
    const proxy = await startProxy(`
version: 1
accessLog: { to: "${file}", format: "L%E %N %U %C %O %I" }
services:
  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}" }
`);
    const once = async (): Promise<void> => {
      const c = await tcpConnect(proxy.ports['m']!);
      const got = readAll(c);
      c.end('hello');
      await got;
    };
    await once();
    await proxy.waitForRecords(1);
    await proxy.rt.accessLogs.settleAll();
    renameSync(file, file + '.1');
    proxy.rt.reopenLogs();
    await once();
    await proxy.waitForRecords(2);
    await proxy.stop();
    expect(readFileSync(file + '.1', 'utf8')).toBe('00000 TCPPM - 127.0.0.1 5 5\n');
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('00000 TCPPM - 127.0.0.1 5 5\n');
    await echo.close();
  });
});
