/**
 * Every PluginApi function, observed through the "kit" fixture (spec/fixtures/plugins/kit.js)
 * on a real tcppm service: operator in a custom pipeline, auth method in `auth:`, command
 * section, symbols between plugins, child logger, log hook, and scheduled jobs run on stop.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Runtime, schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';
import type { AccessRecord } from '../../operators/log/record';

const FILE = join(__dirname, '..', 'fixtures', 'plugins', 'test.yaml');

interface Seen {
  marks: string[];
  records: AccessRecord[];
  jobs: number;
  applied: unknown;
  label: string;
}

describe('PluginApi through the kit fixture', () => {
  let echo: Fixture;
  let rt: Runtime | null = null;
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }));

  beforeAll(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    if (rt !== null) await rt.stop(0);
    rt = null;
  });
  afterAll(async () => {
    await echo.close();
  });

  const config = (auth: string): string => `
version: 1
accessLog: { to: none, format: json }
plugins:
  - { module: ./kit.js, options: { label: from-config } }
  - module: ./consumer.js
kitSettings: { greeting: hello }
services:
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo.port}
    auth: [${auth}]
    pipeline:
      - readRequest: { protocol: fixed }
      - authenticate: {}
      - kit.mark: { tag: stamped }
      - connect: {}
      - mapSockets: {}
      - log: {}
`;

  /** Resolves on the next access record; kit's hook was added first, so it has seen it too. */
  const nextRecord = (r: Runtime): Promise<AccessRecord> =>
    new Promise((resolve) => {
      const once = (rec: AccessRecord): void => {
        r.accessLogs.listeners.delete(once);
        resolve(rec);
      };
      r.accessLogs.listeners.add(once);
    });

  it('registers operator, auth, command, symbols, logger, hooks and jobs', async () => {
    rt = await Runtime.load(config('kit.token'), FILE, { logger });
    await rt.start();
    const seen = rt.env.symbols.get('kit.seen') as Seen;
    expect(seen.label).toBe('from-config');
    expect(rt.plugins.plugins).toEqual([{ name: 'kit', version: '1.2.3' }, { name: 'consumer' }]);
    expect(rt.env.symbols.get('consumer.label')).toBe('from-config');
    expect(seen.applied).toEqual({ greeting: 'hello' });
    expect(rt.env.symbols.get('kit.greeting')).toBe('hello');
    expect(logLines.some((l) => /"plugin":"kit".*"msg":"kit setup"/.test(l))).toBe(true);

    const recorded = nextRecord(rt);
    const c = await tcpConnect(rt.ports()['mapper']!);
    const got = readAll(c);
    c.end('ping');
    expect((await got).toString()).toBe('ping');
    const rec = await recorded;
    expect(seen.records).toEqual([rec]);
    expect(seen.marks).toEqual(['stamped']);
    expect(rec).toMatchObject({ service: 'mapper', user: 'kit-user', code: 0, bytesOut: 4 });

    expect(seen.jobs).toBe(0);
    await rt.stop(0);
    rt = null;
    expect(seen.jobs).toBe(1);
  });

  it('a plugin auth method that fails refuses the connection', async () => {
    rt = await Runtime.load(config('kit.deny'), FILE, { logger });
    await rt.start();
    const seen = rt.env.symbols.get('kit.seen') as Seen;
    const recorded = nextRecord(rt);
    const c = await tcpConnect(rt.ports()['mapper']!);
    const got = readAll(c);
    c.end('ping');
    expect((await got).length).toBe(0);
    const rec = await recorded;
    expect(seen.records).toEqual([rec]);
    expect(rec.errorCode).toBe('PRX_ERR_AUTH_REQUIRED');
    expect(seen.marks).toEqual([]);
  });

  it('plugin sections and operators join the schema', async () => {
    rt = await Runtime.load(config('kit.token'), FILE, { logger });
    const props = (reg: Parameters<typeof schemaFor>[0], withPlugins: boolean): string[] => {
      const s = schemaFor(reg, withPlugins ? rt!.plugins : undefined) as { properties: object; $defs: object };
      return [...Object.keys(s.properties), ...Object.keys(s.$defs)];
    };
    expect(props(builtinRegistries(), false)).not.toContain('kitSettings');
    const own = { operators: rt.env.operators, authMethods: rt.env.authMethods, templates: rt.env.templates };
    expect(props(own, true)).toEqual(expect.arrayContaining(['kitSettings', 'operator.kit.mark']));
    expect(rt.env.operators.has('kit.mark')).toBe(true);
    expect(rt.env.authMethods.names()).toEqual(['kit.token', 'kit.deny']);
  });
});
