/**
 * The admin service end to end: a tcppm mapper and an admin listener on 127.0.0.1:0, real
 * HTTP requests with undici, a real TCP client relayed to an echo server.
 */
import { request } from 'undici';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { convertLegacy } from '../../config/convert';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { Supervisor } from '../../core/reload';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionSnapshot } from '../../core/introspect';

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const ADMIN = basic('admin', 's3cret-admin');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

describe('admin service', () => {
  let echo: Fixture;
  let proxy: RunningProxy;
  const clients: Socket[] = [];

  const config = (echoPort: number): string => `
version: 1
accessLog: { to: none, format: json }
users: { admin: "CL:s3cret-admin", bob: "CL:bobs-password" }
counters: { rules: [{ id: 1, comment: all traffic, direction: all, limitMB: 10 }] }
services:
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echoPort}
  - name: admin
    type: admin
    listen: 127.0.0.1:0
    auth: [strong]
    acl:
      - allow: { users: [admin], operations: [ADMIN] }
      - deny: {}
`;

  beforeAll(async () => {
    echo = await echoServer();
    proxy = await startProxy(config(echo.port));
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(async () => {
    await proxy.stop();
    expect(proxy.rt.liveConnections()).toBe(0);
    await echo.close();
  });

  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, auth: string | null = ADMIN): Promise<Reply> => {
    const res = await request(`http://127.0.0.1:${proxy.ports['admin']!}${path}`, {
      method,
      headers: auth === null ? {} : { authorization: auth },
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  /** A mapper client whose relay is up: the echo has answered once. */
  const relayedClient = async (): Promise<Socket> => {
    const c = await tcpConnect(proxy.ports['mapper']!);
    clients.push(c);
    const echoed = new Promise<string>((resolve) => c.once('data', (d: Buffer) => resolve(d.toString())));
    c.write('ping');
    expect(await echoed).toBe('ping');
    return c;
  };

  it('answers 401 with a Basic challenge without or with wrong credentials, 200 with them', async () => {
    const none = await call('GET', '/healthz', null);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="rx3proxy admin"/);
    expect(JSON.parse(none.text)).toMatchObject({ error: 'PRX_ERR_AUTH_REQUIRED' });
    const wrong = await call('GET', '/healthz', basic('admin', 'nope'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic realm="rx3proxy admin"/);
    const ok = await call('GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual({ status: 'ok' });
    const ready = await call('GET', '/ready');
    expect(JSON.parse(ready.text)).toEqual({ ready: true, notListening: [] });
  });

  it('lets the ACL refuse a user it does not list (403)', async () => {
    const bob = await call('GET', '/api/sessions', basic('bob', 'bobs-password'));
    expect(bob.status).toBe(403);
    expect(JSON.parse(bob.text)).toMatchObject({ error: 'PRX_ERR_ACL_DENIED' });
  });

  it('lists a refused request among the recent errors, newest first', async () => {
    const records = proxy.records.length;
    const refused = await call('GET', '/api/counters', basic('bob', 'bobs-password'));
    expect(refused.status).toBe(403);
    const [rec] = (await proxy.waitForRecords(records + 1)).slice(records);
    const res = await call('GET', '/api/errors');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as { capacity: number; errors: Record<string, unknown>[] };
    expect(body.capacity).toBe(100);
    expect(body.errors[0]).toEqual({
      time: new Date(rec!.time).toISOString(),
      service: 'admin',
      user: 'bob',
      client: `127.0.0.1:${rec!.clientPort}`,
      target: null,
      code: 'PRX_ERR_ACL_DENIED',
      legacy: 1,
      message: 'access denied by ACL rule …',
      request: 'GET /api/counters',
    });
    // Successful requests are not errors: the GET that read the list is not in it.
    expect(body.errors.every((e) => e['code'] !== null && e['legacy'] !== 0)).toBe(true);
  });

  it('lists a live tcppm session and closes it through DELETE, which ends and logs it', async () => {
    const c = await relayedClient();
    const list = await call('GET', '/api/sessions');
    expect(list.status).toBe(200);
    const sessions = (JSON.parse(list.text) as { sessions: SessionSnapshot[] }).sessions;
    const mine = sessions.find((s) => s.service === 'mapper' && s.client === `127.0.0.1:${c.localPort}`);
    expect(mine).toMatchObject({ target: `127.0.0.1:${echo.port}`, operation: 'CONNECT', user: null, bytesOut: 4, bytesIn: 4 });
    expect(mine!.ageMs).toBeGreaterThanOrEqual(0);

    const before = proxy.records.length;
    const clientSawClose = closed(c);
    const del = await call('DELETE', `/api/sessions/${mine!.id}`);
    expect(del.status).toBe(200);
    expect(JSON.parse(del.text)).toEqual({ closed: mine!.id });
    await clientSawClose;
    expect(c.destroyed || c.readableEnded).toBe(true);
    const rec = proxy.records.slice(before).find((r) => r.service === 'mapper' && r.clientPort === c.localPort);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_SESSION_KILLED', code: 90, bytesOut: 4, bytesIn: 4 });
    const after = JSON.parse((await call('GET', '/api/sessions')).text) as { sessions: SessionSnapshot[] };
    expect(after.sessions.find((s) => s.id === mine!.id)).toBeUndefined();
    expect((await call('DELETE', `/api/sessions/${mine!.id}`)).status).toBe(404);
  });

  it('serves Prometheus metrics whose counters move with traffic', async () => {
    const sample = (text: string, name: string, labels: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const first = await call('GET', '/metrics');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(first.text).toMatch(/^# TYPE rx3proxy_requests_total counter$/m);
    expect(first.text).toMatch(/^# TYPE rx3proxy_request_duration_seconds histogram$/m);
    expect(first.text).toMatch(/^rx3proxy_nodejs_eventloop_lag_seconds \d/m);
    // Every sample line is `name{labels} value` with a number (the exposition format).
    for (const l of first.text.split('\n').filter((x) => x !== '' && !x.startsWith('#'))) expect(l).toMatch(/^[a-zA-Z_:][\w:]*(\{[^}]*\})? (-?[\d.e+-]+|NaN|[+-]Inf)$/);

    const c = await relayedClient();
    const records = proxy.records.length;
    c.end();
    await closed(c);
    await proxy.waitForRecords(records + 1);
    const second = (await call('GET', '/metrics')).text;
    expect(sample(second, 'rx3proxy_requests_total', 'service="mapper",code="0"')).toBe(sample(first.text, 'rx3proxy_requests_total', 'service="mapper",code="0"') + 1);
    expect(sample(second, 'rx3proxy_bytes_total', 'service="mapper",direction="out"')).toBe(sample(first.text, 'rx3proxy_bytes_total', 'service="mapper",direction="out"') + 4);
    expect(sample(second, 'rx3proxy_connections_accepted_total', 'service="mapper"')).toBe(sample(first.text, 'rx3proxy_connections_accepted_total', 'service="mapper"') + 1);
    expect(sample(second, 'rx3proxy_request_duration_seconds_count', 'service="mapper"')).toBeGreaterThan(sample(first.text, 'rx3proxy_request_duration_seconds_count', 'service="mapper"'));
    // The 401s of the first test were counted as auth failures.
    expect(sample(second, 'rx3proxy_auth_failures_total', 'service="admin",code="PRX_ERR_AUTH_REQUIRED"')).toBeGreaterThanOrEqual(1);
    expect(second).toMatch(/^rx3proxy_connections_active\{service="admin"\} [1-9]/m);

    // A refusal by the ACL is counted as one, by reason and code.
    const refusedSeries = 'service="admin",reason="acl",code="PRX_ERR_ACL_DENIED"';
    const before = proxy.records.length;
    expect((await call('GET', '/api/sessions', basic('bob', 'bobs-password'))).status).toBe(403);
    await proxy.waitForRecords(before + 1);
    const third = (await call('GET', '/metrics')).text;
    expect(sample(third, 'rx3proxy_connections_refused_total', refusedSeries)).toBe(sample(second, 'rx3proxy_connections_refused_total', refusedSeries) + 1);
    expect(sample(third, 'rx3proxy_connections_refused_total', 'service="admin",reason="auth",code="PRX_ERR_AUTH_REQUIRED"')).toBeGreaterThanOrEqual(1);
    // The mapper's clean requests are not refusals.
    expect(third).not.toMatch(/^rx3proxy_connections_refused_total\{service="mapper"/m);
  });

  it('shows the config in effect without passwords', async () => {
    const res = await call('GET', '/api/config');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('s3cret-admin');
    expect(res.text).not.toContain('bobs-password');
    const body = JSON.parse(res.text) as { config: { users: Record<string, string>; services: { name: string }[] } };
    expect(body.config.users).toEqual({ admin: '[redacted]', bob: '[redacted]' });
    expect(body.config.services.map((s) => s.name)).toEqual(['mapper', 'admin']);
  });

  it('reports counters with limit and usage, and answers reload with 501 when no supervisor is reachable', async () => {
    const counters = JSON.parse((await call('GET', '/api/counters')).text) as { counters: Record<string, unknown>[] };
    expect(counters.counters).toHaveLength(1);
    // The earlier tests relayed 'ping' both ways at least twice through the mapper.
    expect(counters.counters[0]).toMatchObject({ rule: 0, id: 1, comment: 'all traffic', direction: 'all', limitBytes: 10 * 1024 * 1024, exceeded: false });
    expect(counters.counters[0]!['bytes']).toBeGreaterThanOrEqual(16);
    expect(counters.counters[0]!['bytes']).toBe(proxy.rt.limits.counters.counter(1)!.bytes);
    const reload = await call('POST', '/api/reload');
    expect(reload.status).toBe(501);
    expect(JSON.parse(reload.text)).toMatchObject({ error: 'PRX_ERR_ADMIN_NO_RELOAD' });
    expect((await call('GET', '/api/reload')).status).toBe(405);
    // Without options.writable the config cannot be replaced, whatever the body.
    const put = await request(`http://127.0.0.1:${proxy.ports['admin']!}/api/config`, { method: 'PUT', headers: { authorization: ADMIN }, body: 'version: 1\nservices: []\n' });
    expect(put.statusCode).toBe(403);
    expect(await put.body.json()).toMatchObject({ error: 'PRX_ERR_ADMIN_FORBIDDEN', message: expect.stringContaining('writable') as string });
    expect((await call('GET', '/nowhere')).status).toBe(404);
  });
});

describe('admin service config', () => {
  it('accepts what the converter makes of a 3proxy admin line', () => {
    const r = convertLegacy('users admin:CL:pw\nauth strong\nallow admin\nadmin -p8081 -s\n', 'admin.cfg');
    expect(r.errors).toEqual([]);
    const services = r.config['services'] as { type: string; options?: Record<string, unknown> }[];
    expect(services[0]).toMatchObject({ type: 'admin', options: { readOnly: true } });
    const rt = Runtime.fromText(r.yaml.replace('0.0.0.0:8081', '127.0.0.1:0'), 'admin.yaml', { logger: silentLogger(), dryRun: true });
    expect(rt.services.map((s) => s.config.type)).toEqual(['admin']);
  });

  it('refuses unknown admin options', () => {
    const yaml = 'version: 1\nservices:\n  - { name: a, type: admin, listen: 127.0.0.1:0, options: { editable: true } }\n';
    expect(() => Runtime.fromText(yaml, 'bad.yaml', { logger: silentLogger(), dryRun: true })).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_INVALID' }) as Error);
  });
});

describe('admin reload through the supervisor', () => {
  it('POST /api/reload reloads the config file: a new service appears, a broken file is refused with 422', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-admin-reload-'));
    const file = join(dir, 'proxy.yaml');
    const base = `version: 1
accessLog: { to: none }
users: { admin: "CL:s3cret-admin" }
services:
  - { name: admin, type: admin, listen: 127.0.0.1:0, auth: [strong] }
`;
    writeFileSync(file, base);
    const sup = await Supervisor.load(file, { logger: silentLogger() });
    await sup.start();
    try {
      const port = sup.runtime.ports()['admin']!;
      const post = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
        const res = await request(`http://127.0.0.1:${port}/api/reload`, { method: 'POST', headers: { authorization: ADMIN } });
        return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
      };
      writeFileSync(file, base + '  - { name: extra, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:9 }\n');
      const ok = await post();
      expect(ok).toMatchObject({ status: 200, body: { ok: true, added: ['extra'], generation: 1 } });
      expect(Object.keys(sup.runtime.ports()).sort()).toEqual(['admin', 'extra']);
      // The admin port was kept across the reload, and the new runtime reloads through it too.
      expect(sup.runtime.ports()['admin']).toBe(port);
      writeFileSync(file, base + '  - { name: extra, type: tcppm, listen: 127.0.0.1:0 }\n');
      const bad = await post();
      expect(bad.status).toBe(422);
      expect(bad.body['ok']).toBe(false);
      expect(Object.keys(sup.runtime.ports()).sort()).toEqual(['admin', 'extra']);

      // A reload from elsewhere (SIGHUP calls this) counts in the metrics as much as the API's.
      writeFileSync(file, base);
      expect((await sup.reload('signal')).ok).toBe(true);
      const get = async (path: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> => {
        const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { authorization: ADMIN } });
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      };
      const metrics = (await get('/metrics')).text;
      expect(metrics).toMatch(/^rx3proxy_reloads_total\{result="ok"\} 2$/m);
      expect(metrics).toMatch(/^rx3proxy_reloads_total\{result="failed"\} 1$/m);
      // 3proxy's admin paths: GET /R reloads, /C /S /F lead to the page's sections.
      const r = await get('/R');
      expect([r.status, (JSON.parse(r.text) as { generation: number }).generation]).toEqual([200, 3]);
      for (const [path, to] of [['/C', '/#counters'], ['/S', '/#sessions'], ['/F', '/#config']] as const) {
        const red = await get(path);
        expect([red.status, red.headers['location']]).toEqual([302, to]);
      }
    } finally {
      await sup.stop(0);
    }
  });
});

describe('admin config editing (writable)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-admin-write-'));
  const head = (options: string): string => `version: 1
accessLog: { to: none }
users: { admin: "CL:s3cret-admin" }
services:
  - { name: admin, type: admin, listen: 127.0.0.1:0, auth: [strong], options: ${options} }
`;

  const put = async (port: number, body: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await request(`http://127.0.0.1:${port}/api/config`, { method: 'PUT', headers: { authorization: ADMIN, 'content-type': 'application/yaml' }, body });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  it('PUT /api/config validates the body, keeps the file on problems, writes and reloads a valid one', async () => {
    const file = join(dir, 'proxy.yaml');
    const base = head('{ writable: true }');
    writeFileSync(file, base);
    const sup = await Supervisor.load(file, { logger: silentLogger() });
    await sup.start();
    try {
      const port = sup.runtime.ports()['admin']!;
      // Two problems on known lines: a tcppm without target (line 6), an unknown root key (line 7).
      const broken = base + '  - { name: extra, type: tcppm, listen: 127.0.0.1:0 }\nnonsense: 1\n';
      const bad = await put(port, broken);
      expect(bad.status).toBe(422);
      expect(bad.body).toMatchObject({ ok: false, written: false, error: 'PRX_ERR_CONFIG_INVALID' });
      const problems = bad.body['problems'] as string[];
      expect(problems.length).toBeGreaterThanOrEqual(2);
      for (const p of problems) expect(p).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
      expect(problems.some((p) => p.startsWith(`${file}:6:`))).toBe(true);
      expect(problems.some((p) => p.startsWith(`${file}:7:`))).toBe(true);
      expect(readFileSync(file, 'utf8')).toBe(base);
      expect(sup.generation).toBe(0);

      const good = base + '  - { name: extra, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:9 }\n';
      const ok = await put(port, good);
      expect(ok).toMatchObject({ status: 200, body: { ok: true, written: true, file, added: ['extra'], generation: 1 } });
      expect(readFileSync(file, 'utf8')).toBe(good);
      expect(Object.keys(sup.runtime.ports()).sort()).toEqual(['admin', 'extra']);
      // The temp file was renamed over the config, not left beside it.
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      // JSON is YAML too: a JSON body that drops the extra service is written and applied.
      const json = JSON.stringify({ version: 1, accessLog: { to: 'none' }, users: { admin: 'CL:s3cret-admin' }, services: [{ name: 'admin', type: 'admin', listen: '127.0.0.1:0', auth: ['strong'], options: { writable: true } }] });
      const back = await put(sup.runtime.ports()['admin']!, json);
      expect(back).toMatchObject({ status: 200, body: { ok: true, removed: ['extra'], generation: 2 } });
      expect(readFileSync(file, 'utf8')).toBe(json);
    } finally {
      await sup.stop(0);
    }
  });

  it('puts the previous file back when the reload refuses a valid config (its port is taken)', async () => {
    const file = join(dir, 'taken.yaml');
    const base = head('{ writable: true }');
    writeFileSync(file, base);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    const sup = await Supervisor.load(file, { logger: silentLogger() });
    await sup.start();
    try {
      const res = await put(sup.runtime.ports()['admin']!, base + `  - { name: extra, type: tcppm, listen: 127.0.0.1:${taken}, target: 127.0.0.1:9 }\n`);
      expect(res).toMatchObject({ status: 422, body: { ok: false, written: false, restored: true, error: 'PRX_ERR_CONFIG_INVALID' } });
      expect((res.body['problems'] as string[]).join('\n')).toMatch(/extra|listen|EADDRINUSE/);
      expect(readFileSync(file, 'utf8')).toBe(base);
      expect(Object.keys(sup.runtime.ports())).toEqual(['admin']);
    } finally {
      await sup.stop(0);
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('readOnly wins over writable: PUT /api/config answers 403 and the file is kept', async () => {
    const file = join(dir, 'ro.yaml');
    const base = head('{ writable: true, readOnly: true }');
    writeFileSync(file, base);
    const sup = await Supervisor.load(file, { logger: silentLogger() });
    await sup.start();
    try {
      const res = await put(sup.runtime.ports()['admin']!, head('{ writable: true }'));
      expect(res).toMatchObject({ status: 403, body: { error: 'PRX_ERR_ADMIN_FORBIDDEN', message: 'this admin service is read-only' } });
      expect(readFileSync(file, 'utf8')).toBe(base);
      expect(sup.generation).toBe(0);
    } finally {
      await sup.stop(0);
    }
  });
});
