/**
 * The filter API and the traffic/bandwidth/log hooks, through the "kit" fixture plugin
 * (spec/fixtures/plugins/kit.js) on real services: an HTTP proxy (request, header and body
 * stages, every result), a tcppm service (stream data stages, bandwidth hook), a service whose
 * open() declines (broken filter registrations: loader.spec.ts).
 */
import { join } from 'node:path';
import { connect } from 'node:net';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import type { AccessRecord } from '../../operators/log/record';

const FILE = join(__dirname, '..', 'fixtures', 'plugins', 'test.yaml');

interface Seen {
  opened: string[];
  stages: string[];
  cleared: number;
  closed: number;
  traffic: { service: string; bytesIn: number; bytesOut: number }[];
  paced: number;
  serviceLogs: string[];
}

describe('filters and hooks through the kit fixture', () => {
  let echo: Fixture;
  let web: Fixture;
  let rt: Runtime | null = null;
  const records: AccessRecord[] = [];

  beforeAll(async () => {
    echo = await echoServer();
    web = await httpServer();
  });
  afterEach(async () => {
    if (rt !== null) await rt.stop(0);
    rt = null;
    records.length = 0;
  });
  afterAll(async () => {
    await Promise.all([echo.close(), web.close()]);
  });

  const config = (): string => `
version: 1
accessLog: { to: none, format: json }
plugins:
  - module: ./kit.js
services:
  - { name: web, type: proxy, listen: 127.0.0.1:0, filters: [kit.trace] }
  - { name: mapper, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port}, filters: [kit.trace] }
  - { name: declined, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port}, filters: [kit.trace] }
  - { name: plain, type: proxy, listen: 127.0.0.1:0 }
`;

  async function start(): Promise<{ rt: Runtime; seen: Seen }> {
    const r = await Runtime.load(config(), FILE, { logger: silentLogger() });
    r.accessLogs.listeners.add((rec) => records.push(rec));
    await r.start();
    rt = r;
    return { rt: r, seen: r.env.symbols.get('kit.seen') as Seen };
  }

  const waitRecords = (r: Runtime, n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (records.length >= n) {
          r.accessLogs.listeners.delete(check);
          resolve();
        }
      };
      r.accessLogs.listeners.add(check);
      check();
    });

  const via = (service = 'web'): string[] => ['-x', `http://127.0.0.1:${rt!.ports()[service]!}`];
  const url = (path: string): string => `http://127.0.0.1:${web.port}${path}`;

  it('runs open, client, request, headerClient, headerServer and dataServer on an HTTP request, clear and close at the end', async () => {
    const { rt: r, seen } = await start();
    expect(seen.opened).toEqual(['web', 'mapper', 'declined']);
    // The request stage rewrote the URL to /headers; headerClient added X-Kit for the upstream.
    const res = await curl([...via(), '-i', url('/kit-rewrite')]);
    expect(res.stdout).toMatch(/X-Kit-Server: seen\r\n/);
    const body = res.stdout.slice(res.stdout.indexOf('\r\n\r\n') + 4);
    expect(body.endsWith('!')).toBe(true);
    expect((JSON.parse(body.slice(0, -1)) as Record<string, string>)['x-kit']).toBe('web');
    await waitRecords(r, 1);
    // The access record shows the request as the filter rewrote it (3proxy logs its rewritten request too).
    expect(records[0]).toMatchObject({ service: 'web', code: 0, text: `GET ${url('/headers')} HTTP/1.1` });
    expect(seen.stages.slice(0, 5)).toEqual(['client', 'request', 'headerClient', 'headerServer', 'dataServer']);
    expect(seen.traffic).toEqual([expect.objectContaining({ service: 'web' })]);
    expect(seen.traffic[0]!.bytesIn).toBeGreaterThan(0);
    expect(seen.serviceLogs).toEqual(['web']);
    await r.stop(0);
    rt = null;
    expect(seen.cleared).toBe(1);
    expect(seen.stages.slice(-3)).toEqual(['clear:web', 'close:web', 'close:mapper']);
    expect(seen.closed).toBe(2);
  });

  it.each([
    ['kit-reject', 503, 'PRX_ERR_FILTER_REJECT', 517],
    ['kit-remove', 503, 'PRX_ERR_FILTER_REJECT', 517],
    ['kit-throw', 502, 'PRX_ERR_FILTER_FAILED', 19],
  ])('a request stage answering for %s gives HTTP %s and an access record', async (path, status, code, legacy) => {
    const { rt: r } = await start();
    const res = await curl([...via(), '-o', '/dev/null', '-w', '%{http_code}', url(`/${path}`)]);
    expect(res.stdout).toBe(String(status));
    await waitRecords(r, 1);
    expect(records[0]).toMatchObject({ errorCode: code, code: legacy });
  });

  it('HANDLED: the filter answered itself; the connection ends with result 0', async () => {
    const { rt: r } = await start();
    const res = await curl([...via(), '-i', url('/kit-handled')]);
    expect(res.stdout).toMatch(/^HTTP\/1\.0 299 Kit Handled/);
    expect(res.stdout.endsWith('kit')).toBe(true);
    await waitRecords(r, 1);
    expect(records[0]).toMatchObject({ errorCode: 'PRX_ERR_FILTER_HANDLED', code: 0 });
  });

  it('PASS accepts; body stages run on the POST body and the response', async () => {
    const { rt: r, seen } = await start();
    const res = await curl([...via(), '--data-binary', 'body', url('/kit-pass')]);
    // dataClient upper-cased the request body in place (its length is announced), dataServer appended to the buffered response.
    expect(res.stdout).toBe('BODY!');
    await waitRecords(r, 1);
    expect(seen.stages).toContain('headerClient');
  });

  it('stream data stages rewrite both directions; the bandwidth hook paces the in-scope service', async () => {
    const { rt: r, seen } = await start();
    const c = await tcpConnect(r.ports()['mapper']!);
    const got = readAll(c);
    c.end('ping');
    expect((await got).toString()).toBe('PING!');
    await waitRecords(r, 1);
    // tcppm's request stage sees "CONNECT host:port", as 3proxy's filter_request does for non-HTTP services.
    expect(seen.stages.slice(0, 4)).toEqual(['client', 'request', 'dataClient', 'dataServer']);
    expect(seen.paced).toBeGreaterThanOrEqual(2);
    expect(seen.traffic).toEqual([{ service: 'mapper', bytesIn: 5, bytesOut: 4 }]);
    expect(seen.serviceLogs).toEqual([]);
  });

  it('a service whose open() declined, and a service without filters, are not filtered', async () => {
    const { rt: r, seen } = await start();
    const c = await tcpConnect(r.ports()['declined']!);
    const got = readAll(c);
    c.end('ping');
    expect((await got).toString()).toBe('ping');
    expect((await curl([...via('plain'), url('/hello')])).stdout).toBe('hello world');
    expect(seen.stages).toEqual([]);
    expect(seen.paced).toBe(0);
  });

  it('client() refusing drops the connection before anything is read', async () => {
    const { rt: r, seen } = await start();
    const s = connect({ port: r.ports()['mapper']!, host: '127.0.0.1', localAddress: '127.0.0.2' });
    const got = readAll(s).catch(() => Buffer.alloc(0));
    s.write('ping');
    expect((await got).length).toBe(0);
    expect(seen.stages).toEqual(['client']);
    expect(seen.cleared).toBe(0);
  });
});
