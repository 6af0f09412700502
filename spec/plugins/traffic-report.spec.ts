/**
 * The shipped traffic-report plugin: its log hook sums bytes per user over real tcppm traffic
 * and the report file is written when the runtime stops.
 */
import { join } from 'node:path';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';
import type { TrafficReport } from '../../plugins/traffic-report';

describe('traffic-report plugin', () => {
  let echo: Fixture;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(async () => {
    await echo.close();
  });

  async function roundTrip(rt: Runtime, service: string, text: string): Promise<void> {
    const logged = new Promise<void>((resolve) => {
      const once = (): void => {
        rt.accessLogs.listeners.delete(once);
        resolve();
      };
      rt.accessLogs.listeners.add(once);
    });
    const c = await tcpConnect(rt.ports()[service]!);
    const got = readAll(c);
    c.end(text);
    expect((await got).toString()).toBe(text);
    await logged;
  }

  it('writes per-user byte totals on stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-traffic-'));
    const yaml = `
version: 1
accessLog: { to: none, format: json }
plugins:
  - module: ${join(__dirname, '..', 'fixtures', 'plugins', 'kit.js')}
  - { module: traffic-report, options: { file: ./report.json } }
services:
  - { name: users, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port}, auth: [kit.token] }
  - { name: anon, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port} }
`;
    const rt = await Runtime.load(yaml, join(dir, 'proxy.yaml'), { logger: silentLogger() });
    await rt.start();
    await roundTrip(rt, 'users', 'hello');
    await roundTrip(rt, 'users', 'abc');
    await roundTrip(rt, 'anon', '1234567');
    expect(existsSync(join(dir, 'report.json'))).toBe(false);
    await rt.stop(0);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrafficReport;
    expect(report.users).toEqual({
      'kit-user': { bytesIn: 8, bytesOut: 8, requests: 2 },
      '-': { bytesIn: 7, bytesOut: 7, requests: 1 },
    });
    expect(Number.isNaN(Date.parse(report.generatedAt))).toBe(false);
  });

  it('counts through the traffic hook: only the services in scope, and requests no log step records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-traffic-'));
    const yaml = `
version: 1
accessLog: { to: none, format: json }
plugins:
  - { module: traffic-report, options: { file: ./report.json, services: [quiet] } }
services:
  - { name: quiet, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port}, pipeline: [{ readRequest: { protocol: fixed } }, { connect: {} }, { mapSockets: {} }] }
  - { name: other, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:${echo.port} }
`;
    const rt = await Runtime.load(yaml, join(dir, 'proxy.yaml'), { logger: silentLogger() });
    await rt.start();
    for (const [service, text] of [['quiet', 'abcd'], ['other', 'xyz']] as const) {
      const c = await tcpConnect(rt.ports()[service]!);
      const got = readAll(c);
      c.end(text);
      expect((await got).toString()).toBe(text);
    }
    await rt.whenIdle();
    await rt.stop(0);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrafficReport;
    expect(report.users).toEqual({ '-': { bytesIn: 4, bytesOut: 4, requests: 1 } });
  });

  it('requires its file option', async () => {
    await expect(Runtime.load('version: 1\nplugins: [{ module: traffic-report }]\n', 'x.yaml', { logger: silentLogger() })).rejects.toMatchObject({
      code: 'PRX_ERR_PLUGIN_INVALID',
      message: expect.stringContaining('plugin "traffic-report" is invalid') as unknown,
    });
  });
});
