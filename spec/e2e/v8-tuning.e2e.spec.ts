/**
 * core/v8-tuning.ts: the CLI turns off V8's allocation-site pretenuring before it serves
 * anything, and a process started with an explicit --allocation-site-pretenuring keeps it.
 * Checked on the real process through V8's own trace: with pretenuring on, every GC prints
 * `pretenuring:` statistics; with it off, the pretenuring pass does not run at all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/cli';
import { httpServer, type Fixture } from '../helpers/servers';
import { pretenuringChosen } from '../../core/v8-tuning';

interface Proc {
  readonly child: ChildProcess;
  output(): string;
}

function start(nodeFlags: readonly string[], cfg: string, portFile: string): Proc {
  const child = spawn(process.execPath, [...nodeFlags, CLI, cfg, '--port-file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/**
 * Resolves once the service logged that it accepts connections and the port file is complete.
 * The port file is written right after that line, with no output of its own: the file is
 * watched for it.
 */
async function ready(p: Proc, dir: string, portFile: string): Promise<number> {
  const port = (): number | null => {
    if (!p.output().includes('accepting connections') || !existsSync(portFile)) return null;
    const text = readFileSync(portFile, 'utf8');
    return text.endsWith('\n') ? (JSON.parse(text) as Record<string, number>)['http']! : null;
  };
  const watcher = watch(dir);
  try {
    for (;;) {
      const found = port();
      if (found !== null) return found;
      if (p.child.exitCode !== null) throw new Error(`exited: ${p.output()}`);
      // The losers' listeners are taken off again (an aborted once() rejects: ignored).
      const ac = new AbortController();
      const next = [once(p.child.stdout!, 'data', ac), once(p.child.stderr!, 'data', ac), once(watcher, 'change', ac), once(p.child, 'close', ac)];
      for (const n of next) n.catch(() => undefined);
      await Promise.race(next);
      ac.abort();
    }
  } finally {
    watcher.close();
  }
}

/** `count` GETs through the proxy, `parallel` keep-alive connections at a time. */
async function load(proxyPort: number, upstream: number, count: number, parallel: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: parallel });
  let ok = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxyPort, path: `http://127.0.0.1:${upstream}/x`, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next++ < count) await one();
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  agent.destroy();
  return ok;
}

/** The trace lines V8 printed after the service started accepting. */
function pretenuringLinesAfterStart(out: string): number {
  const from = out.indexOf('accepting connections');
  return out.slice(from).split('\n').filter((l) => l.includes('pretenuring:')).length;
}

describe('V8 tuning (allocation-site pretenuring)', () => {
  let up: Fixture;
  let proc: Proc | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'rx3-v8-'));
  const cfg = join(dir, 'proxy.yaml');

  beforeAll(async () => {
    up = await httpServer((_req, res) => res.end('x'.repeat(100)));
    writeFileSync(cfg, 'version: 1\nlog: { level: info }\naccessLog: { to: none }\nservices:\n  - { name: http, type: proxy, listen: "127.0.0.1:0" }\n');
  });
  afterEach(async () => {
    if (proc !== null && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await once(proc.child, 'close');
    }
    proc = null;
  });
  afterAll(() => up.close());

  it('reads an explicit choice in either spelling and ignores other flags', () => {
    expect(pretenuringChosen(['--allocation-site-pretenuring'])).toBe(true);
    expect(pretenuringChosen(['--max-old-space-size=512', '--no-allocation-site-pretenuring'])).toBe(true);
    expect(pretenuringChosen(['--no_allocation_site_pretenuring'])).toBe(true);
    expect(pretenuringChosen(['--trace-pretenuring-statistics', '--allocation-site-pretenuring-extra'])).toBe(false);
    expect(pretenuringChosen([])).toBe(false);
  });

  it('serves with pretenuring off: no pretenuring pass in the GCs under load', async () => {
    const portFile = join(dir, 'ports-off.json');
    proc = start(['--trace-pretenuring-statistics'], cfg, portFile);
    const port = await ready(proc, dir, portFile);
    expect(await load(port, up.port, 3000, 16)).toBe(3000);
    expect(pretenuringLinesAfterStart(proc.output())).toBe(0);
  }, 30000);

  it('keeps pretenuring when node is started with --allocation-site-pretenuring', async () => {
    const portFile = join(dir, 'ports-on.json');
    proc = start(['--trace-pretenuring-statistics', '--allocation-site-pretenuring'], cfg, portFile);
    const port = await ready(proc, dir, portFile);
    expect(await load(port, up.port, 3000, 16)).toBe(3000);
    expect(pretenuringLinesAfterStart(proc.output())).toBeGreaterThan(0);
  }, 30000);
});
