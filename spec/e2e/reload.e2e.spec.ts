/** Live reload with real processes: SIGHUP, monitor:, pidfile (dist/cli.js; run `npm run build` first). */
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { startCli, type Running } from '../helpers/cli';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll, curl } from '../helpers/clients';
import { httpServer } from '../helpers/servers';
import type { ServerResponse } from 'node:http';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-reload-e2e-'));
let seq = 0;

function tcppm(name: string, target: number): string {
  return `  - { name: ${name}, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${target}" }`;
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

/** A server that greets every client with `tag` and closes. */
function greeter(tag: string): Promise<Server & { port: number }> {
  const server = createServer((s) => s.end(tag));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(Object.assign(server, { port: (server.address() as AddressInfo).port }))));
}

const count = (out: string, re: RegExp): number => (out.match(new RegExp(re.source, 'g')) ?? []).length;

describe('rx3proxy live reload (real process)', () => {
  let echo: Fixture;
  let p: Running | null = null;
  let cfg = '';
  let portFile = '';
  const ports = (): Record<string, number> => JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>;
  const start = async (text: string): Promise<Running> => {
    seq++;
    cfg = join(dir, `proxy${seq}.yaml`);
    portFile = join(dir, `ports${seq}.json`);
    writeFileSync(cfg, text);
    p = startCli([cfg, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    return p;
  };
  /** Sends SIGHUP and waits for the n-th "configuration reloaded" line. */
  const reloaded = async (run: Running, n: number): Promise<void> => {
    run.child.kill('SIGHUP');
    await run.waitFor(new RegExp(`(configuration reloaded[\\s\\S]*){${n}}`));
  };

  beforeAll(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    if (p !== null && p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await p.exited();
    }
    p = null;
  });
  afterAll(() => echo.close());

  it('a long session continues across three reloads, on the same port', async () => {
    const run = await start(`version: 1\nservices:\n${tcppm('m', echo.port)}\n`);
    const port = ports()['m']!;
    const live = await tcpConnect(port);
    expect(await echoOnce(live, 'before')).toBe('before');
    for (let i = 1; i <= 3; i++) {
      await reloaded(run, i);
      expect(await echoOnce(live, `after${i}`)).toBe(`after${i}`);
      const fresh = await tcpConnect(port);
      expect(await echoOnce(fresh, `new${i}`)).toBe(`new${i}`);
      fresh.destroy();
    }
    expect(ports()['m']).toBe(port);
    live.destroy();
  });

  it('a reload adds a service and removes another', async () => {
    const run = await start(`version: 1\nservices:\n${tcppm('a', echo.port)}\n${tcppm('b', echo.port)}\n`);
    const before = ports();
    writeFileSync(cfg, `version: 1\nservices:\n${tcppm('a', echo.port)}\n${tcppm('c', echo.port)}\n`);
    await reloaded(run, 1);
    const after = ports();
    expect(Object.keys(after).sort()).toEqual(['a', 'c']);
    expect(after['a']).toBe(before['a']);
    await expect(tcpConnect(before['b']!)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const c = await tcpConnect(after['c']!);
    expect(await echoOnce(c, 'c')).toBe('c');
    c.destroy();
  });

  it('a broken config on reload logs FILE:LINE:COL and the old config keeps serving', async () => {
    const run = await start(`version: 1\nservices:\n${tcppm('m', echo.port)}\n`);
    const port = ports()['m']!;
    writeFileSync(cfg, `version: 1\nservices:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", maxconn: 0, target: "127.0.0.1:1" }\n`);
    run.child.kill('SIGHUP');
    await run.waitFor(new RegExp(`reload failed: ${cfg.replace(/[.]/g, '\\.')}:3:\\d+: /services/0/maxconn`));
    await run.waitFor(/running configuration is kept/);
    const c = await tcpConnect(port);
    expect(await echoOnce(c, 'still')).toBe('still');
    c.destroy();
  });

  it('50 SIGHUPs in a second leave one consistent config', async () => {
    const run = await start(`version: 1\nservices:\n${tcppm('s0', echo.port)}\n`);
    const first = ports()['s0']!;
    for (let i = 1; i <= 50; i++) {
      // Written whole (temp file + rename), as editors and config tools do: a reload that reads a
      // half-written file is refused and keeps the old config, which is not what this test is about.
      writeFileSync(`${cfg}.tmp`, `version: 1\nservices:\n${tcppm(`s${i}`, echo.port)}\n`);
      renameSync(`${cfg}.tmp`, cfg);
      run.child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 18)); // storm pacing: 50 signals in under a second
    }
    await run.waitFor(/"s50"[^\n]*configuration reloaded/, 20000);
    expect(Object.keys(ports())).toEqual(['s50']);
    // Fast reloads may each apply; a slow one coalesces the signals behind it. Never more than asked.
    const applied = count(run.output(), /configuration reloaded/);
    expect(applied).toBeGreaterThanOrEqual(1);
    expect(applied).toBeLessThanOrEqual(50);
    expect(run.output()).not.toMatch(/reload failed/);
    await expect(tcpConnect(first)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const c = await tcpConnect(ports()['s50']!);
    expect(await echoOnce(c, 'ok')).toBe('ok');
    c.destroy();
  });

  it('a change of a monitor: file takes effect for new connections within a second', async () => {
    const one = await greeter('one');
    const two = await greeter('two');
    const body = (t: number): string => `version: 1\nmonitor: [ "./proxy${seq + 1}.yaml" ]\nservices:\n${tcppm('m', t)}\n`;
    const run = await start(body(one.port));
    const port = ports()['m']!;
    const c1 = await tcpConnect(port);
    expect((await readAll(c1)).toString()).toBe('one');
    const t0 = Date.now();
    writeFileSync(cfg, body(two.port));
    await run.waitFor(/configuration reloaded/, 5000);
    const c2 = await tcpConnect(port);
    expect((await readAll(c2)).toString()).toBe('two');
    expect(Date.now() - t0).toBeLessThan(1000);
    c1.destroy();
    c2.destroy();
    one.close();
    two.close();
  });

  it('a curl download through the HTTP proxy continues across three reloads', async () => {
    // The origin sends one part per reload: bytes flow before, between and after the reloads.
    let res: ServerResponse | null = null;
    let requested: () => void = () => undefined;
    const gotRequest = new Promise<void>((r) => (requested = r));
    const origin = await httpServer((_req, r) => {
      r.writeHead(200, { 'content-type': 'text/plain' });
      r.write('part0;');
      res = r;
      requested();
    });
    const run = await start(`version: 1\nservices:\n  - { name: web, type: proxy, listen: "127.0.0.1:0" }\n`);
    const download = curl(['-x', `http://127.0.0.1:${ports()['web']!}`, `http://127.0.0.1:${origin.port}/stream`]);
    await gotRequest;
    for (let i = 1; i <= 3; i++) {
      await reloaded(run, i);
      res!.write(`part${i};`);
    }
    res!.end('done');
    const r = await download;
    expect([r.code, r.stdout]).toEqual([0, 'part0;part1;part2;part3;done']);
    await origin.close();
  });

  it('a change of a monitored users file lets a new user in within a second', async () => {
    const users = join(dir, `users${seq + 1}.txt`);
    writeFileSync(users, 'alice:CL:wonderland\n');
    const web = await httpServer();
    const run = await start(
      `version: 1\nmonitor: [ "${users}" ]\nusers: { file: "${users}" }\nservices:\n  - { name: web, type: proxy, listen: "127.0.0.1:0", auth: [strong] }\n`,
    );
    const via = ['-x', `http://127.0.0.1:${ports()['web']!}`, '-o', '/dev/null', '-w', '%{http_code}'];
    const url = `http://127.0.0.1:${web.port}/hello`;
    expect((await curl([...via, '-U', 'bob:builder', url])).stdout).toBe('407');
    const t0 = Date.now();
    writeFileSync(users, 'alice:CL:wonderland\nbob:CL:builder\n');
    await run.waitFor(/configuration reloaded/, 5000);
    expect((await curl([...via, '-U', 'bob:builder', url])).stdout).toBe('200');
    expect(Date.now() - t0).toBeLessThan(1000);
    // alice is still in, and a wrong password is still refused.
    expect((await curl([...via, '-U', 'alice:wonderland', url])).stdout).toBe('200');
    expect((await curl([...via, '-U', 'bob:wrong', url])).stdout).toBe('407');
    await web.close();
  });

  it('writes the pidfile once listening and removes it on exit', async () => {
    const pidfile = join(dir, 'rx3proxy.pid');
    const run = await start(`version: 1\npidfile: ${pidfile}\nservices:\n${tcppm('m', echo.port)}\n`);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(run.child.pid));
    run.child.kill('SIGTERM');
    expect(await run.exited()).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });
});
