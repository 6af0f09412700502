/**
 * Egress from an IPv6 prefix, for real: loopback has only ::1, so the test makes a network
 * namespace (iproute2, as root) where 2001:db8:e::/64 is routed locally and non-local binds are
 * allowed, runs rx3proxy (dist/cli.js) and the probe (upstream + client) inside it, and reads the
 * source addresses the upstream saw. The namespace is deleted afterwards.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipBytes } from '../../core/net/proxy-protocol';

const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');
const NS = `rx3egress${process.pid}`;
const PREFIX = '2001:db8:e::';

const inPrefix = (addr: string): boolean => ipBytes(addr, 6).subarray(0, 8).equals(ipBytes(PREFIX, 6).subarray(0, 8));

function inNs(cmd: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', NS, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with stdout once the process exits 0. */
function output(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

describe('egress from an IPv6 prefix (network namespace)', () => {
  let dir: string;
  let proxy: ChildProcess;
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', NS, '-6', 'route', 'add', 'local', `${PREFIX}/64`, 'dev', 'lo']);
    execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.ip_nonlocal_bind=1']);
    dir = mkdtempSync(join(tmpdir(), 'rx3-egress-'));
    const cfg = join(dir, 'egress.yaml');
    // The namespace is private, so fixed ports cannot collide with anything.
    writeFileSync(
      cfg,
      `version: 1
accessLog: { to: none }
services:
  - { name: random, type: tcppm, listen: "127.0.0.1:9001", target: "[::1]:9000", egress: { pool: ["${PREFIX}/64"] } }
  - { name: sticky, type: tcppm, listen: "127.0.0.1:9002", target: "[::1]:9000", egress: { pool: ["${PREFIX}/64"], sticky: true } }
`,
    );
    proxy = inNs(process.execPath, [CLI, cfg]);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        log += d.toString();
        if ((log.match(/accepting connections/g) ?? []).length >= 2) resolve();
      };
      proxy.stdout!.on('data', onData);
      proxy.stderr!.on('data', onData);
      proxy.once('close', (code) => reject(new Error(`rx3proxy exited ${code}: ${log}`)));
    });
  });
  afterAll(async () => {
    const closed = new Promise((r) => proxy.once('close', r));
    proxy.kill('SIGTERM');
    await closed;
    execFileSync('ip', ['netns', 'del', NS]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a random address inside the prefix per connection; sticky keeps one per client', async () => {
    const seen = JSON.parse(await output(inNs('python3', [join(__dirname, 'fixtures', 'egress-probe.py'), '8', '9001', '9002']))) as Record<string, string[]>;
    const random = seen['9001']!;
    const sticky = seen['9002']!;
    expect(random).toHaveLength(8);
    expect(random.every(inPrefix)).toBe(true);
    // 64 random bits each: a repeat among 8 would be a bug, not luck.
    expect(new Set(random).size).toBe(8);
    expect(sticky.every(inPrefix)).toBe(true);
    expect(new Set(sticky).size).toBe(1);
  });
});
