/**
 * Process operations with the real CLI (dist/cli.js; `npm run build` first): privilege drop
 * after binding (setgid/setuid), and counters saved by the second-signal kill path.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { runCli, startCli, type Running } from '../helpers/cli';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-ops-'));
// The dropped identity must still reach the port file it rewrites on reload.
chmodSync(dir, 0o755);
let seq = 0;
const isRoot = process.getuid?.() === 0;

let echo: Fixture;
let p: Running | null = null;
beforeAll(async () => {
  echo = await echoServer();
});
afterEach(async () => {
  if (p !== null && p.child.exitCode === null) {
    p.child.kill('SIGKILL');
    await p.exited();
  }
  p = null;
});
afterAll(() => echo.close());

function files(yaml: string): { cfg: string; portFile: string } {
  seq++;
  const cfg = join(dir, `proxy${seq}.yaml`);
  writeFileSync(cfg, yaml);
  return { cfg, portFile: join(dir, `ports${seq}.json`) };
}

const yamlWith = (extra: string): string =>
  `version: 1\naccessLog: { to: stdout }\n${extra}services:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}" }\n`;

async function roundTrip(port: number, text: string): Promise<string> {
  const s: Socket = await tcpConnect(port);
  const got = readAll(s);
  s.end(text);
  return (await got).toString();
}

/** Uid:/Gid:/Groups: lines of a process: real, effective, saved, filesystem ids. */
function idsOf(pid: number): { uid: string[]; gid: string[]; groups: string[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (k: string): string[] => (new RegExp(`^${k}:(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter((x) => x !== '');
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups') };
}

describe('setgid/setuid', () => {
  it(isRoot ? 'drops to the configured user and group after binding, and still serves and reloads' : 'without root, fails to drop with a clear reason', async () => {
    const yaml = yamlWith('setgid: nogroup\nsetuid: nobody\n');
    const { cfg, portFile } = files(yaml);
    p = startCli([cfg, '--port-file', portFile]);
    if (!isRoot) {
      expect(await p.exited()).toBe(1);
      expect(p.output()).toMatch(/cannot drop privileges: setgid nogroup: operation not permitted/);
      return;
    }
    await p.waitFor(/rx3proxy running/);
    const ids = idsOf(p.child.pid!);
    expect(ids.uid).toEqual(['65534', '65534', '65534', '65534']);
    expect(ids.gid).toEqual(['65534', '65534', '65534', '65534']);
    // root's supplementary groups must not survive the drop
    expect(ids.groups).toEqual(['65534']);
    const port = (JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>)['m']!;
    expect(await roundTrip(port, 'after the drop')).toBe('after the drop');
    // A reload still works under the new identity (config readable, port file rewritable).
    writeFileSync(portFile, '{"stale":1}\n');
    p.child.kill('SIGHUP');
    await p.waitFor(/configuration reloaded/);
    expect(JSON.parse(readFileSync(portFile, 'utf8'))).toEqual({ m: port });
    expect(await roundTrip(port, 'after reload')).toBe('after reload');
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  });

  it('an unknown user exits 1 naming it, without ever announcing it runs', async () => {
    const { cfg, portFile } = files(yamlWith('setuid: no-such-user-rx3\n'));
    const r = await runCli([cfg, '--port-file', portFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(isRoot ? /cannot drop privileges: setuid no-such-user-rx3: no such user or group/ : /cannot drop privileges: setuid no-such-user-rx3/);
    expect(r.stdout + r.stderr).not.toMatch(/rx3proxy running/);
  });

  it('refuses root as the target identity', async () => {
    const { cfg } = files(yamlWith('setuid: root\n'));
    const r = await runCli([cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot drop privileges: setuid: refusing to run as root/);
  });
});

describe('second signal', () => {
  it('still saves the traffic counters', async () => {
    const counters = join(dir, `counters${seq + 1}.json`);
    const yaml = yamlWith(`shutdownTimeout: 1h\ncounters:\n  file: ${counters}\n  saveInterval: 1h\n  rules:\n    - { id: 3, direction: in }\n`);
    const { cfg, portFile } = files(yaml);
    p = startCli([cfg, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    const port = (JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>)['m']!;
    expect(await roundTrip(port, 'x'.repeat(1000))).toBe('x'.repeat(1000));
    // The counters take a session's bytes when its record is written.
    await p.waitFor(/"bytesIn":1000/);
    // A live session keeps the graceful stop waiting (shutdownTimeout 1h): only the kill path can end it.
    const live = await tcpConnect(port);
    live.on('error', () => undefined);
    live.write('hold');
    await new Promise<void>((resolve) => live.once('data', () => resolve()));
    p.child.kill('SIGTERM');
    await p.waitFor(/"msg":"stopping"/);
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
    live.destroy();
    const saved = JSON.parse(readFileSync(counters, 'utf8')) as { counters: Record<string, { bytes: number }> };
    expect(saved.counters['3']?.bytes).toBeGreaterThanOrEqual(1000);
  });
});
