/**
 * Limits end to end through tcppm: shared bandwidth rules, exempt rules, a quota cutting a
 * download, counters persisted across a stop/start, and connection limits.
 */
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpServer, echoServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

/** Sends `size` bytes to every client as fast as backpressure allows, then ends. */
function bulkServer(size: number): Promise<Fixture & { close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let left = size;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ port, host: '127.0.0.1', sockets, close: () => new Promise<void>((done) => { for (const s of sockets) s.destroy(); server.close(() => done()); }) });
    });
  });
}

const service = (name: string, port: number): string => `
  - name: ${name}
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${port}
    accessLog: { to: none, format: json }`;

describe('limits', () => {
  let proxy: RunningProxy | null = null;
  const fixtures: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    if (proxy !== null) await proxy.stop();
    proxy = null;
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });

  it('shares one 8 Mbit/s rule between two clients and leaves an exempt port alone', async () => {
    const slow = await bulkServer(64 * 1024 * 1024);
    const fast = await bulkServer(4 * 1024 * 1024);
    fixtures.push(slow, fast);
    proxy = await startProxy(`
version: 1
accessLog: { to: none }
bandwidth:
  - { direction: in, exempt: true, match: { ports: [${fast.port}] } }
  - { direction: in, rate: 8Mbit/s }
services:${service('slow', slow.port)}${service('fast', fast.port)}
`);
    const [a, b] = await Promise.all([tcpConnect(proxy.ports['slow']!), tcpConnect(proxy.ports['slow']!)]);
    // Measure from the first byte to the moment 3,000,000 more bytes arrived (about 3 s at 1 MB/s).
    const elapsed = await new Promise<{ ms: number; bytes: number }>((resolve) => {
      let start = 0;
      let total = 0;
      const onData = (c: Buffer): void => {
        if (start === 0) start = performance.now();
        else total += c.length;
        if (total >= 3_000_000) {
          a.destroy();
          b.destroy();
          resolve({ ms: performance.now() - start, bytes: total });
        }
      };
      a.on('data', onData);
      b.on('data', onData);
    });
    const bitsPerSecond = (elapsed.bytes * 8) / (elapsed.ms / 1000);
    expect(bitsPerSecond).toBeGreaterThan(8e6 * 0.85);
    expect(bitsPerSecond).toBeLessThan(8e6 * 1.15);

    const c = await tcpConnect(proxy.ports['fast']!);
    const t0 = performance.now();
    const got = await readAll(c);
    expect(got.length).toBe(4 * 1024 * 1024);
    // Throttled, 4 MiB would take over 4 s.
    expect(performance.now() - t0).toBeLessThan(2000);
  }, 20000);

  it('cuts a download at a 5 MB quota with code 10, and refuses the next request', async () => {
    const web = await httpServer();
    fixtures.push(web);
    proxy = await startProxy(`
version: 1
accessLog: { to: none }
counters:
  rules:
    - { id: 0, comment: quota, direction: in, limitMB: 5 }
services:${service('web', web.port)}
`);
    const res = await curl([`http://127.0.0.1:${proxy.ports['web']!}/bytes/10000000`]);
    expect(res.code).not.toBe(0);
    expect(res.stdout.length).toBeGreaterThan(5 * 1024 * 1024 - 1024);
    expect(res.stdout.length).toBeLessThan(5 * 1024 * 1024);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 10, errorCode: 'PRX_ERR_QUOTA_EXCEEDED', bytesIn: 5 * 1024 * 1024 });
    const again = await tcpConnect(proxy.ports['web']!);
    await closed(again);
    const recs = await proxy.waitForRecords(2);
    expect(recs[1]).toMatchObject({ code: 10, errorCode: 'PRX_ERR_QUOTA_EXCEEDED', bytesIn: 0 });
  }, 20000);

  it('keeps counters across a stop and a start (atomic JSON file)', async () => {
    const up = await bulkServer(100_000);
    fixtures.push(up);
    const dir = mkdtempSync(join(tmpdir(), 'rx3-counters-'));
    const yaml = `
version: 1
accessLog: { to: none }
counters:
  file: ${join(dir, 'counters.json')}
  rules:
    - { id: 7, comment: all traffic, direction: in }
services:${service('m', up.port)}
`;
    const download = async (p: RunningProxy, n: number): Promise<void> => {
      const s = await tcpConnect(p.ports['m']!);
      const got = readAll(s);
      s.end();
      expect((await got).length).toBe(100_000);
      await p.waitForRecords(n);
    };
    proxy = await startProxy(yaml);
    await download(proxy, 1);
    await proxy.stop();
    const saved = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as { version: number; counters: Record<string, { bytes: number }> };
    expect(saved).toMatchObject({ version: 1, counters: { '7': { bytes: 100_000 } } });

    proxy = await startProxy(yaml);
    expect(proxy.rt.limits.counters.counter(7)?.bytes).toBe(100_000);
    await download(proxy, 1);
    await proxy.stop();
    proxy = null;
    const again = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as { counters: Record<string, { bytes: number }> };
    expect(again.counters['7']?.bytes).toBe(200_000);
    expect(readdirSync(dir)).toEqual(['counters.json']);
  }, 20000);

  it.each([
    ['concurrent connections', '{ rate: 2, per: 0s }'],
    ['new connections per period', '{ rate: 2, per: 60s }'],
  ])('refuses the N+1th connection with code 10 (%s)', async (_name, rule) => {
    const echo = await echoServer();
    fixtures.push(echo);
    proxy = await startProxy(`
version: 1
accessLog: { to: none }
connectionLimits:
  - ${rule}
services:${service('e', echo.port)}
`);
    const port = proxy.ports['e']!;
    // Two sessions stay open (and work) while the third one is tried.
    const [a, b] = await Promise.all([tcpConnect(port), tcpConnect(port)]);
    const echoed = once(a, 'data');
    a.write('hello');
    expect(String((await echoed)[0])).toBe('hello');
    const c = await tcpConnect(port);
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 10, errorCode: 'PRX_ERR_CONNLIM_EXCEEDED' });
    a.destroy();
    b.destroy();
  });
});
