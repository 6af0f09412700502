/**
 * Authentication and ACL end to end: tcppm with raw TCP, the HTTP proxy and SOCKS with curl.
 * The clock is injected (time windows are tested by moving it, never by waiting).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import type { Clock } from '../../core/env';
import type { AccessRecord } from '../../operators/log/record';
import { resetSharedAuthCache } from '../../core/auth';

/** 2024-01-08 was a Monday. */
const at = (day: number, hour: number): number => new Date(2024, 0, 8 + day, hour, 0, 0).getTime();

interface Running {
  rt: Runtime;
  port(name: string): number;
  records: AccessRecord[];
  waitForRecords(n: number): Promise<AccessRecord[]>;
}

async function start(yaml: string, clock: Clock, file = 'auth.yaml'): Promise<Running> {
  const rt = Runtime.fromText(yaml, file, { logger: silentLogger(), clock });
  const records: AccessRecord[] = [];
  const waiters: (() => void)[] = [];
  rt.accessLogs.listeners.add((r) => {
    records.push(r);
    for (const w of waiters.splice(0)) w();
  });
  await rt.start();
  const ports = rt.ports();
  const waitForRecords = (n: number): Promise<AccessRecord[]> =>
    new Promise((resolve) => {
      const check = (): void => (records.length >= n ? resolve(records) : void waiters.push(check));
      check();
    });
  return { rt, port: (name) => ports[name] ?? 0, records, waitForRecords };
}

describe('auth and ACL end to end', () => {
  let echo: Fixture;
  let web: Fixture;
  let running: Running | null = null;
  const clock = { t: at(0, 12), now(): number { return this.t; } };

  beforeAll(async () => {
    echo = await echoServer();
    web = await httpServer();
  });
  beforeEach(() => {
    clock.t = at(0, 12);
    resetSharedAuthCache();
  });
  afterEach(async () => {
    if (running !== null) await running.rt.stop(0);
    running = null;
  });
  afterAll(async () => {
    await echo.close();
    await web.close();
  });

  /**
   * One echo round trip through a tcppm service; '' when the proxy refused. A refusal closes
   * the socket with our bytes unread, which the kernel may turn into a reset: also ''.
   */
  async function echoVia(port: number): Promise<string> {
    const c = await tcpConnect(port);
    const got = readAll(c).then(
      (b) => b.toString(),
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET') return '';
        throw err;
      },
    );
    c.end('ping');
    return got;
  }

  const tcppm = (target: string, acl: string, extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: map
    type: tcppm
    listen: 127.0.0.1:0
    target: ${target}
    auth: [iponly]
    acl: ${acl}
${extra}`;

  describe('tcppm (iponly)', () => {
    const cases: [string, string, number][] = [
      ['allow by source', '[{ allow: { sources: [127.0.0.0/8] } }, { deny: {} }]', 0],
      ['deny by source (no rule for 127.0.0.1)', '[{ allow: { sources: [10.0.0.0/8] } }, { deny: {} }]', 1],
      ['implicit deny when nothing matched', '[{ allow: { sources: [10.0.0.0/8] } }]', 3],
      ['deny by target address', '[{ deny: { targets: [127.0.0.1] } }, { allow: {} }]', 1],
      ['deny by port', '[{ deny: { ports: [ECHO] } }, { allow: {} }]', 1],
      ['operation CONNECT allowed', '[{ allow: { operations: [CONNECT] } }, { deny: {} }]', 0],
      ['operation HTTP_GET only: no match', '[{ allow: { operations: [HTTP_GET] } }]', 3],
      ['user rule cannot match without a user', '[{ allow: { users: [alice] } }]', 3],
    ];
    it.each(cases)('%s', async (_n, acl, want) => {
      running = await start(tcppm(`127.0.0.1:${echo.port}`, acl.replace('ECHO', String(echo.port))), clock);
      const out = await echoVia(running.port('map'));
      expect(out).toBe(want === 0 ? 'ping' : '');
      const [rec] = await running.waitForRecords(1);
      expect(rec?.code).toBe(want);
    });

    it('time window with the injected clock (weekdays 1-5, 09-18)', async () => {
      const acl = '[{ allow: { weekdays: [1-5], times: ["09:00:00-18:00:00"] } }, { deny: {} }]';
      running = await start(tcppm(`127.0.0.1:${echo.port}`, acl), clock);
      const results: string[] = [];
      for (const t of [at(0, 12), at(0, 20), at(6, 12), at(4, 9)]) {
        clock.t = t;
        results.push(await echoVia(running.port('map')));
      }
      expect(results).toEqual(['ping', '', '', 'ping']);
      const recs = await running.waitForRecords(4);
      expect(recs.map((r) => r.code)).toEqual([0, 1, 1, 0]);
    });

    it('a target named by host is matched by its resolved address', async () => {
      const acl = '[{ deny: { targets: [127.0.0.0/8] } }, { allow: {} }]';
      running = await start(tcppm(`localhost:${echo.port}`, acl), clock);
      expect(await echoVia(running.port('map'))).toBe('');
      const [rec] = await running.waitForRecords(1);
      expect([rec?.code, rec?.errorCode]).toEqual([1, 'PRX_ERR_ACL_DENIED']);
    });
  });

  describe('HTTP proxy with curl', () => {
    const proxy = (auth: string, acl: string, root = ''): string => `
version: 1
accessLog: { to: none, format: json }
users: { alice: "CL:wonderland", bob: "CL:builder" }
${root}
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    auth: ${auth}
    acl: ${acl}
`;
    const get = async (user: string | null, path = '/hello', extra: string[] = []): Promise<string> => {
      const cred = user === null ? [] : ['-U', user];
      const r = await curl(['-x', `http://127.0.0.1:${running!.port('http')}`, ...cred, '-o', '/dev/null', '-w', '%{http_code}', ...extra, `http://127.0.0.1:${web.port}${path}`]);
      return r.stdout;
    };

    it('allow/deny by user, port and operation', async () => {
      const acl = `[{ deny: { users: [bob] } }, { allow: { users: [alice], ports: [${web.port}], operations: [HTTP_GET] } }, { deny: {} }]`;
      running = await start(proxy('[strong]', acl), clock);
      const codes = [
        await get('alice:wonderland'),
        await get('alice:wrong'),
        await get('bob:builder'),
        await get(null),
        await get('alice:wonderland', '/hello', ['-d', 'x=1']),
      ];
      expect(codes).toEqual(['200', '407', '403', '407', '403']);
      const recs = await running.waitForRecords(5);
      expect(recs.map((r) => r.code)).toEqual([0, 6, 1, 4, 1]);
    });

    it('time window: 403 outside it', async () => {
      running = await start(proxy('[strong]', '[{ allow: { users: [alice], times: ["09:00:00-17:00:00"] } }, { deny: {} }]'), clock);
      expect(await get('alice:wonderland')).toBe('200');
      clock.t = at(0, 17);
      expect(await get('alice:wonderland')).toBe('403');
    });

    it('users from a usersFiles file (3proxy users lines)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rx3-users-'));
      writeFileSync(join(dir, 'passwd'), 'carol:CL:fromfile\ndave:NT:318EC8F505742D76864CE8B934FC0122\n');
      const yaml = proxy('[strong]', '[{ allow: {} }]', 'usersFiles: [./passwd]');
      running = await start(yaml, clock, join(dir, 'auth.yaml'));
      expect([await get('carol:fromfile'), await get('dave:ride the wind'), await get('carol:x')]).toEqual(['200', '200', '407']);
    });

    it('auth [strong, cache] with key user reproduces the 3proxy pitfall', async () => {
      running = await start(proxy('[strong, cache]', '[{ allow: { users: [alice] } }, { deny: {} }]', 'authCache: { keys: [user], ttl: 60s }'), clock);
      expect(await get('alice:anything')).toBe('407');
      expect(await get('alice:wonderland')).toBe('200');
      expect(await get('alice:anything')).toBe('200');
      const recs = await running.waitForRecords(3);
      expect(recs.map((r) => [r.code, r.user])).toEqual([[6, 'alice'], [0, 'alice'], [0, 'alice']]);
    });

    it('auth [cache, strong] with key ip,user,limit: first IP binds the user', async () => {
      running = await start(proxy('[cache, strong]', '[{ allow: { users: [alice] } }, { deny: {} }]', 'authCache: { keys: [ip, user, limit], ttl: 60s }'), clock);
      expect(await get('alice:wonderland')).toBe('200');
      expect(await get('alice:wonderland')).toBe('200');
      // Another loopback source address: the cache binds alice to 127.0.0.1 (3proxy code 10).
      expect(await get('alice:wonderland', '/hello', ['--interface', '127.0.0.2'])).toBe('503');
      const recs = await running.waitForRecords(3);
      expect(recs.map((r) => [r.code, r.clientIp])).toEqual([
        [0, '127.0.0.1'],
        [0, '127.0.0.1'],
        [10, '127.0.0.2'],
      ]);
    });
  });

  describe('SOCKS with curl', () => {
    it('allow/deny by user and target port', async () => {
      running = await start(
        `
version: 1
accessLog: { to: none, format: json }
users: { alice: "CL:wonderland", bob: "CL:builder" }
services:
  - name: socks
    type: socks
    listen: 127.0.0.1:0
    auth: [strong]
    acl: [{ allow: { users: [alice], ports: [${web.port}] } }, { deny: {} }]
`,
        clock,
      );
      const port = running.port('socks');
      const via = (cred: string): Promise<{ code: number; stdout: string }> =>
        curl(['--socks5', `127.0.0.1:${port}`, '-U', cred, `http://127.0.0.1:${web.port}/hello`]);
      expect((await via('alice:wonderland')).stdout).toBe('hello world');
      expect((await via('bob:builder')).code).not.toBe(0);
      expect((await via('alice:nope')).code).not.toBe(0);
      const recs = await running.waitForRecords(3);
      expect(recs.map((r) => [r.user, r.code])).toEqual([
        ['alice', 0],
        ['bob', 1],
        ['alice', 6],
      ]);
    });

  describe('redirect to another local service', () => {
    it('an HTTP proxy redirects matching requests to a second local proxy service, which logs them', async () => {
      // The back service's port is only known once it listens: start it first, then the front.
      const back = await start(
        `
version: 1
accessLog: { to: none, format: json }
services:
  - { name: back, type: proxy, listen: "127.0.0.1:0", auth: [none] }
`,
        clock,
      );
      running = await start(
        `
version: 1
accessLog: { to: none, format: json }
services:
  - name: front
    type: proxy
    listen: 127.0.0.1:0
    auth: [iponly]
    acl:
      - redirect: { host: 127.0.0.1, port: ${back.port('back')}, match: { ports: [${web.port}] } }
      - allow: {}
`,
        clock,
      );
      try {
        const r = await curl(['-x', `http://127.0.0.1:${running.port('front')}`, `http://127.0.0.1:${web.port}/hello`]);
        expect(r.stdout).toBe('hello world');
        const [front] = await running.waitForRecords(1);
        const [viaBack] = await back.waitForRecords(1);
        // The front connected to the back service (its hop), the back to the origin.
        expect(front).toMatchObject({ service: 'front', code: 0, remotePort: back.port('back'), hops: 1 });
        expect(viaBack).toMatchObject({ service: 'back', code: 0, remotePort: web.port, text: expect.stringContaining(`http://127.0.0.1:${web.port}/hello`) as string });
      } finally {
        await back.rt.stop(0);
      }
    });
  });
  });
});
