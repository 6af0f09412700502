/** Supervisor in-process: serialized/coalesced reloads, socket hand-over, no fd or timer leak. */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from '../../core/reload';
import { silentLogger } from '../../core/logger';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect } from '../helpers/clients';
import type { Socket } from 'node:net';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-reload-'));
const cfgFile = join(dir, 'proxy.yaml');

function config(target: number, names: readonly string[]): string {
  const services = names.map((n) => `  - { name: ${n}, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${target}" }`);
  return ['version: 1', 'services:', ...services, ''].join('\n');
}

function echoOnce(s: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        s.removeListener('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(text);
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('Supervisor (in-process reload)', () => {
  let echo: Fixture;
  let sup: Supervisor | null = null;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    await sup?.stop(0);
    sup = null;
  });
  afterAll(() => echo.close());

  it('keeps the listening port and live sessions of an unchanged service', async () => {
    writeFileSync(cfgFile, config(echo.port, ['a']));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    const port = sup.runtime.ports()['a']!;
    const live = await tcpConnect(port);
    expect(await echoOnce(live, 'one')).toBe('one');
    writeFileSync(cfgFile, config(echo.port, ['a', 'b']));
    const r = await sup.reload();
    expect(r).toMatchObject({ ok: true, added: ['b'], removed: [], kept: ['a'] });
    expect(sup.runtime.ports()['a']).toBe(port);
    expect(await echoOnce(live, 'two')).toBe('two');
    const fresh = await tcpConnect(port);
    expect(await echoOnce(fresh, 'new')).toBe('new');
    expect(sup.draining).toBe(1); // the old runtime still carries `live`
    live.destroy();
    fresh.destroy();
  });

  it('a reload storm is serialized and coalesced into one consistent config', async () => {
    writeFileSync(cfgFile, config(echo.port, ['a']));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      writeFileSync(cfgFile, config(echo.port, [`s${i}`]));
      all.push(sup.reload());
    }
    await Promise.all(all);
    // The first request runs; the other 49 share one follow-up that reads the final file.
    expect(sup.generation).toBe(2);
    expect(Object.keys(sup.runtime.ports())).toEqual(['s49']);
    const c = await tcpConnect(sup.runtime.ports()['s49']!);
    expect(await echoOnce(c, 'x')).toBe('x');
    c.destroy();
  });

  it('a broken config keeps the running one and reports FILE:LINE:COL', async () => {
    writeFileSync(cfgFile, config(echo.port, ['a']));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    const before = sup.runtime;
    writeFileSync(cfgFile, 'version: 1\nservices:\n  - { name: a, type: tcppm, listen: "127.0.0.1:0", maxconn: 0 }\n');
    const r = await sup.reload();
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.startsWith(`${cfgFile}:3:`))).toBe(true);
    expect(sup.runtime).toBe(before);
    const c = await tcpConnect(before.ports()['a']!);
    expect(await echoOnce(c, 'still')).toBe('still');
    c.destroy();
  });

  const guarded = (target: number, sources: string, reauth: boolean): string =>
    `version: 1\nreloadReauth: ${reauth}\nservices:\n  - { name: g, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${target}", auth: [iponly], acl: [ { allow: { sources: [${sources}] } }, { deny: {} } ] }\n`;

  it.each([
    [true, true],
    [false, false],
  ])('reloadReauth: %s -> a live session the new ACL refuses is cut: %s', async (reauth, cut) => {
    writeFileSync(cfgFile, guarded(echo.port, '127.0.0.0/8', reauth));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    const live = await tcpConnect(sup.runtime.ports()['g']!);
    expect(await echoOnce(live, 'in')).toBe('in');
    const gone = new Promise<boolean>((resolve) => live.once('end', () => resolve(true)));
    writeFileSync(cfgFile, guarded(echo.port, '10.0.0.0/8', reauth));
    expect((await sup.reload()).ok).toBe(true);
    if (cut) expect(await gone).toBe(true);
    else expect(await echoOnce(live, 'still')).toBe('still');
    live.destroy();
  });

  /** A SOCKS5 session of `user` to the echo server, authenticated with RFC 1929 user/password. */
  async function socksSession(port: number, user: string, password: string): Promise<Socket> {
    const c = await tcpConnect(port);
    let pending = Buffer.alloc(0);
    const waiting: (() => void)[] = [];
    const onData = (d: Buffer): void => {
      pending = Buffer.concat([pending, d]);
      for (const w of waiting.splice(0)) w();
    };
    c.on('data', onData);
    const take = (n: number): Promise<number[]> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (pending.length < n) return void waiting.push(check);
          const out = [...pending.subarray(0, n)];
          pending = pending.subarray(n);
          resolve(out);
        };
        c.once('close', () => reject(new Error('closed during the SOCKS handshake')));
        check();
      });
    c.write(Buffer.from([5, 1, 2]));
    expect(await take(2)).toEqual([5, 2]);
    c.write(Buffer.concat([Buffer.from([1, user.length]), Buffer.from(user), Buffer.from([password.length]), Buffer.from(password)]));
    const [, status] = await take(2);
    if (status !== 0) {
      c.destroy();
      throw new Error(`user/password refused: status ${status}`);
    }
    const dst = Buffer.alloc(2);
    dst.writeUInt16BE(echo.port);
    c.write(Buffer.concat([Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]), dst]));
    const [, reply] = await take(10);
    if (reply !== 0) {
      c.destroy();
      throw new Error(`SOCKS reply ${reply}`);
    }
    c.removeListener('data', onData);
    c.removeAllListeners('close');
    return c;
  }

  const strongSocks = (users: string): string =>
    `version: 1\naccessLog: { to: none }\n${users}\nservices:\n  - { name: s, type: socks, listen: "127.0.0.1:0", auth: [strong], acl: [ { allow: {} } ] }\n`;

  it.each([
    ['removed from users:', 'users: { alice: "CL:a", bob: "CL:b" }', 'users: { bob: "CL:b" }', null, null],
    ['removed from the users: { file } file', 'users: { file: ./passwd }', 'users: { file: ./passwd }', 'alice:CL:a bob:CL:b\n', 'bob:CL:b\n'],
  ])('a live strong-auth session of a user %s is cut on reload; another user keeps going', async (_n, before, after, fileBefore, fileAfter) => {
    const passwd = join(dir, 'passwd');
    if (fileBefore !== null) writeFileSync(passwd, fileBefore);
    writeFileSync(cfgFile, strongSocks(before));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    const port = sup.runtime.ports()['s']!;
    const alice = await socksSession(port, 'alice', 'a');
    const bob = await socksSession(port, 'bob', 'b');
    expect([await echoOnce(alice, 'a1'), await echoOnce(bob, 'b1')]).toEqual(['a1', 'b1']);
    // tcpConnect is half-open capable: the proxy's FIN shows as 'end', not 'close'.
    const aliceGone = new Promise<true>((resolve) => alice.once('end', () => resolve(true)));
    if (fileAfter !== null) writeFileSync(passwd, fileAfter);
    writeFileSync(cfgFile, strongSocks(after));
    expect((await sup.reload()).ok).toBe(true);
    expect(await aliceGone).toBe(true);
    expect(await echoOnce(bob, 'b2')).toBe('b2');
    // New logins see the new table too; like 3proxy, the auth failure comes as the CONNECT reply 0x02.
    await expect(socksSession(port, 'alice', 'a')).rejects.toThrow('SOCKS reply 2');
    alice.destroy();
    bob.destroy();
  });

  it('leaks no file descriptor or timer over 100 reloads', async () => {
    writeFileSync(cfgFile, config(echo.port, ['a']));
    sup = new Supervisor(cfgFile, { logger: silentLogger() });
    await sup.start();
    // Warm up once (lazy modules, the first watcher) before counting.
    writeFileSync(cfgFile, config(echo.port, ['a', 'b']));
    await sup.reload();
    const before = openFds();
    const timersBefore = timers();
    for (let i = 0; i < 100; i++) {
      // Alternate: add/remove a service (binds and closes) and keep another (hand-over).
      writeFileSync(cfgFile, config(echo.port, i % 2 === 0 ? ['a'] : ['a', 'b']));
      expect((await sup.reload()).ok).toBe(true);
    }
    await sup.whenRetired();
    expect(sup.draining).toBe(0);
    expect(openFds()).toBe(before);
    expect(timers()).toBe(timersBefore);
  });
});
