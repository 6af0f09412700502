/**
 * Traffic counters across real process deaths (the built CLI, dist/cli.js):
 *   - kill -TERM, start again: the totals are kept and keep growing;
 *   - kill -9 between saves: the file is valid JSON with the last saved totals (the save is
 *     write-temp, fsync, rename), and the next start loads exactly those.
 */
import { mkdtempSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, type Running } from '../helpers/cli';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect } from '../helpers/clients';

interface Saved {
  version: number;
  counters: Record<string, { bytes: number }>;
}

function setup(echoPort: number, saveInterval: string): { dir: string; cfg: string; portFile: string; counters: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-persist-'));
  const cfg = join(dir, 'rx3.yaml');
  writeFileSync(
    cfg,
    `
log: { level: info }
counters:
  file: counters.json
  saveInterval: ${saveInterval}
  rules:
    - { id: 1, comment: echo, direction: all }
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echoPort}
    accessLog: { to: stdout, format: json }
`,
  );
  return { dir, cfg, portFile: join(dir, 'ports.json'), counters: join(dir, 'counters.json') };
}

/** One session through the proxy: `n` bytes out, the same `n` echoed back, then close. */
async function roundTrip(port: number, n: number): Promise<void> {
  const c = await tcpConnect(port);
  await new Promise<void>((resolve) => {
    let got = 0;
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= n) resolve();
    });
    c.write(Buffer.alloc(n, 0x78));
  });
  c.end();
  await new Promise<void>((resolve) => c.once('close', () => resolve()));
}

const countLines = (out: string, re: RegExp): number => out.split('\n').filter((l) => re.test(l)).length;

/** Resolves when `pred` holds for the counters file, checked on every change in its directory. */
function whenFile(dir: string, file: string, pred: (s: Saved) => boolean, timeoutMs = 15000): Promise<Saved> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      try {
        const s = JSON.parse(readFileSync(file, 'utf8')) as Saved;
        if (!pred(s)) return false;
        w.close();
        clearTimeout(timer);
        resolve(s);
        return true;
      } catch {
        return false;
      }
    };
    const w = watch(dir, () => void check());
    const timer = setTimeout(() => {
      w.close();
      reject(new Error(`counters file never matched: ${(() => { try { return readFileSync(file, 'utf8'); } catch (e) { return String(e); } })()}`));
    }, timeoutMs);
    check();
  });
}

describe('counters across process restarts (CLI)', () => {
  let echo: Fixture | null = null;
  let proc: Running | null = null;
  beforeEach(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    if (proc !== null && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited();
    }
    proc = null;
    await echo?.close();
  });

  async function start(cfg: string, portFile: string): Promise<number> {
    proc = startCli([cfg, '--port-file', portFile]);
    await proc.waitFor(/rx3proxy running/);
    return (JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>)['m']!;
  }

  /** Runs `count` sessions of `n` bytes and waits for their access records. */
  async function traffic(port: number, count: number, n: number): Promise<void> {
    const before = countLines(proc!.output(), /"bytesIn"/);
    for (let i = 0; i < count; i++) await roundTrip(port, n);
    const want = before + count;
    // waitFor re-checks on every output chunk; this "pattern" matches once enough records are out.
    const enough = { exec: (out: string) => (countLines(out, /"bytesIn"/) >= want ? [''] : null) } as unknown as RegExp;
    await proc!.waitFor(enough);
  }

  it('kill -TERM saves the totals; the next start loads them and keeps counting', async () => {
    const { cfg, portFile, counters } = setup(echo!.port, '1h');
    let port = await start(cfg, portFile);
    await traffic(port, 3, 1000);
    proc!.child.kill('SIGTERM');
    expect(await proc!.exited()).toBe(0);
    const first = JSON.parse(readFileSync(counters, 'utf8')) as Saved;
    // 3 sessions x (1000 out + 1000 echoed back), on one `all` counter.
    expect(first.counters['1']!.bytes).toBe(6000);

    // A start and stop without traffic: what was loaded is saved back unchanged.
    await start(cfg, portFile);
    proc!.child.kill('SIGTERM');
    expect(await proc!.exited()).toBe(0);
    expect((JSON.parse(readFileSync(counters, 'utf8')) as Saved).counters['1']!.bytes).toBe(6000);

    port = await start(cfg, portFile);
    await traffic(port, 1, 500);
    proc!.child.kill('SIGTERM');
    expect(await proc!.exited()).toBe(0);
    expect((JSON.parse(readFileSync(counters, 'utf8')) as Saved).counters['1']!.bytes).toBe(7000);
  });

  it('kill -9 while saving every 5ms leaves a valid file with the last saved totals, which the next start loads', async () => {
    const { dir, cfg, portFile, counters } = setup(echo!.port, '5ms');
    const port = await start(cfg, portFile);
    await traffic(port, 20, 1000);
    // Every session has been logged; the file catches up within a save or two.
    await whenFile(dir, counters, (s) => s.counters['1']?.bytes === 40_000);
    // More sessions while saves keep running, then SIGKILL right after their records: the
    // kill lands between (or during) saves, with bytes maybe not saved yet.
    await traffic(port, 5, 1000);
    proc!.child.kill('SIGKILL');
    await proc!.exited();
    const text = readFileSync(counters, 'utf8');
    const saved = JSON.parse(text) as Saved; // throws on a torn file
    expect(saved.version).toBe(1);
    const bytes = saved.counters['1']!.bytes;
    // At most the sessions of the last interval are lost, never what an earlier save had.
    expect(bytes).toBeGreaterThanOrEqual(40_000);
    expect(bytes).toBeLessThanOrEqual(50_000);
    expect((bytes - 40_000) % 2000).toBe(0);

    // The next start loads exactly that; TERM saves it back unchanged.
    const port2 = await start(cfg, portFile);
    expect(port2).toBeGreaterThan(0);
    proc!.child.kill('SIGTERM');
    expect(await proc!.exited()).toBe(0);
    expect((JSON.parse(readFileSync(counters, 'utf8')) as Saved).counters['1']!.bytes).toBe(bytes);
  });
});
