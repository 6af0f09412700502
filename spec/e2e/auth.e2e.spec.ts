/**
 * Authentication and ACL end to end: tcppm with raw TCP, the HTTP proxy and SOCKS with curl.
 * The clock is injected (time windows are tested by moving it, never by waiting).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import type { Clock } from '../../core/env';
import type { AccessRecord } from '../../operators/log/record';
import { resetSharedAuthCache } from '../../core/auth';

/** Reads exactly n bytes and leaves the rest buffered (event driven, no sleeps). */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < n) return;
      s.removeListener('data', onData);
      s.removeListener('close', onClose);
      s.pause();
      if (buf.length > n) s.unshift(buf.subarray(n));
      resolve(buf.subarray(0, n));
    };
    const onClose = (): void => reject(new Error(`closed after ${buf.length} of ${n} bytes`));
    s.on('data', onData);
    s.once('close', onClose);
    s.resume();
  });
}

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

  /**
   * Names for target rules, all on loopback: `*.example.test` must match www.example.test by
   * name although its address is allowed, example.test itself only by address (3proxy's
   * `*suffix` needs a longer host), far.test resolves outside the allowed CIDR.
   */
  const targetHosts = 'resolver: { hosts: { www.example.test: 127.0.0.1, example.test: 127.0.0.1, far.test: 127.0.0.3 } }';
  const targetAcl = '[{ deny: { targets: ["*.example.test"] } }, { allow: { targets: [127.0.0.1/32] } }, { deny: {} }]';

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

    it('allow/deny by source address: 127.0.0.2 refused, 127.0.0.1 served', async () => {
      running = await start(proxy('[iponly]', '[{ deny: { sources: [127.0.0.2/32] } }, { allow: { sources: [127.0.0.0/8] } }]'), clock);
      expect([await get(null), await get(null, '/hello', ['--interface', '127.0.0.2'])]).toEqual(['200', '403']);
      const recs = await running.waitForRecords(2);
      expect(recs.map((r) => [r.code, r.clientIp])).toEqual([
        [0, '127.0.0.1'],
        [1, '127.0.0.2'],
      ]);
    });

    it('allow/deny by target: CIDR and a *.example.test wildcard matched by name', async () => {
      running = await start(proxy('[iponly]', targetAcl, targetHosts), clock);
      const code = async (host: string): Promise<string> =>
        (await curl(['-x', `http://127.0.0.1:${running!.port('http')}`, '-o', '/dev/null', '-w', '%{http_code}', `http://${host}:${web.port}/hello`])).stdout;
      const codes = [await code('127.0.0.1'), await code('www.example.test'), await code('example.test'), await code('far.test')];
      expect(codes).toEqual(['200', '403', '200', '403']);
      const recs = await running.waitForRecords(4);
      expect(recs.map((r) => r.code)).toEqual([0, 1, 0, 1]);
    });

    it('users: { file } (3proxy users $file) authenticates from the file, not as a user named "file"', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rx3-users-'));
      writeFileSync(join(dir, 'passwd'), 'erin:CL:fromfile\n');
      const yaml = `
version: 1
accessLog: { to: none, format: json }
users: { file: ./passwd }
services:
  - { name: http, type: proxy, listen: "127.0.0.1:0", auth: [strong], acl: [{ allow: {} }] }
`;
      running = await start(yaml, clock, join(dir, 'auth.yaml'));
      expect([await get('erin:fromfile'), await get('file:./passwd')]).toEqual(['200', '407']);
      const recs = await running.waitForRecords(2);
      expect(recs.map((r) => [r.user, r.code])).toEqual([
        ['erin', 0],
        ['file', 5],
      ]);
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

    const socks = (acl: string, root = ''): string => `
version: 1
accessLog: { to: none, format: json }
${root}
services:
  - name: socks
    type: socks
    listen: 127.0.0.1:0
    auth: [iponly]
    acl: ${acl}
`;
    /** curl through SOCKS5; `--socks5-hostname` so that names reach the proxy's ACL. */
    const viaSocks = (host: string, extra: string[] = []): Promise<{ code: number; stdout: string }> =>
      curl(['--socks5-hostname', `127.0.0.1:${running!.port('socks')}`, ...extra, `http://${host}:${web.port}/hello`]);

    it('allow/deny by source address: 127.0.0.2 refused, 127.0.0.1 served', async () => {
      running = await start(socks('[{ deny: { sources: [127.0.0.2/32] } }, { allow: { sources: [127.0.0.0/8] } }]'), clock);
      const ok = await viaSocks('127.0.0.1');
      const refused = await viaSocks('127.0.0.1', ['--interface', '127.0.0.2']);
      expect([ok.stdout, refused.stdout, refused.code === 0]).toEqual(['hello world', '', false]);
      const recs = await running.waitForRecords(2);
      expect(recs.map((r) => [r.code, r.clientIp])).toEqual([
        [0, '127.0.0.1'],
        [1, '127.0.0.2'],
      ]);
    });

    it('allow/deny by target: CIDR and a *.example.test wildcard matched by name', async () => {
      running = await start(socks(targetAcl, targetHosts), clock);
      const out: string[] = [];
      for (const host of ['127.0.0.1', 'www.example.test', 'example.test', 'far.test']) out.push((await viaSocks(host)).stdout);
      expect(out).toEqual(['hello world', '', 'hello world', '']);
      const recs = await running.waitForRecords(4);
      expect(recs.map((r) => r.code)).toEqual([0, 1, 0, 1]);
    });

    it('time window with the injected clock (weekdays 1-5, 09-18)', async () => {
      running = await start(socks('[{ allow: { weekdays: [1-5], times: ["09:00:00-18:00:00"] } }, { deny: {} }]'), clock);
      const out: string[] = [];
      for (const t of [at(0, 12), at(0, 20), at(6, 12), at(4, 9)]) {
        clock.t = t;
        out.push((await viaSocks('127.0.0.1')).stdout);
      }
      expect(out).toEqual(['hello world', '', '', 'hello world']);
      const recs = await running.waitForRecords(4);
      expect(recs.map((r) => r.code)).toEqual([0, 1, 1, 0]);
    });

    it('an ACL refusal is SOCKS5 reply 0x02 (connection not allowed by ruleset), by address and by name', async () => {
      running = await start(socks(targetAcl, targetHosts), clock);
      const port = running.port('socks');
      const reply = async (address: Buffer): Promise<number[]> => {
        const c = await tcpConnect(port);
        try {
          c.write(Buffer.from([5, 1, 0]));
          expect([...(await readN(c, 2))]).toEqual([5, 0]);
          const dst = Buffer.alloc(2);
          dst.writeUInt16BE(web.port);
          c.write(Buffer.concat([Buffer.from([5, 1, 0]), address, dst]));
          return [...(await readN(c, 2))];
        } finally {
          c.destroy();
        }
      };
      const name = Buffer.from('www.example.test');
      expect(await reply(Buffer.concat([Buffer.from([3, name.length]), name]))).toEqual([5, 2]);
      expect(await reply(Buffer.from([1, 127, 0, 0, 3]))).toEqual([5, 2]);
      // The same exchange to an allowed target succeeds, so 0x02 above is the ACL's doing.
      expect(await reply(Buffer.from([1, 127, 0, 0, 1]))).toEqual([5, 0]);
    });
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
