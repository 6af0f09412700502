/**
 * mallocTrimThreshold (core/malloc.ts): the CLI keeps freed malloc memory mapped, so relaying a
 * large transfer does not fault its read buffers' pages in again after every garbage collection.
 * Measured on the real process: minor page faults (/proc/PID/stat) while 512 MB go through a
 * tcppm service. Untuned, a run in glibc's trim cycle takes about one fault per 4.6 KB relayed.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, type Running } from '../helpers/cli';
import { sendBytes } from '../helpers/servers';
import { retainFreedMemory, runsOnGlibc } from '../../core/malloc';

const TOTAL = 512 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

/** Sends TOTAL bytes to every client, then ends. */
function source(): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => {
    s.on('error', () => s.destroy());
    sendBytes(s, TOTAL, CHUNK);
  });
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => ({ server, port: (server.address() as AddressInfo).port }));
}

function minorFaults(pid: number): number {
  // Field 10 of /proc/PID/stat (after the parenthesised command name, which may hold spaces).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

async function relayed(port: number): Promise<number> {
  const c = connect({ host: '127.0.0.1', port });
  let bytes = 0;
  c.on('data', (d: Buffer) => (bytes += d.length));
  await once(c, 'end');
  c.destroy();
  return bytes;
}

describe('mallocTrimThreshold', () => {
  let origin: { server: Server; port: number };
  let proc: Running | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'rx3-malloc-'));

  beforeAll(async () => {
    origin = await source();
  });
  afterEach(async () => {
    if (proc !== null) {
      proc.child.kill('SIGTERM');
      await proc.exited();
      proc = null;
    }
  });
  afterAll(() => origin.server.close());

  async function start(extra: string): Promise<{ pid: number; port: number }> {
    const cfg = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    const ports = `${cfg}.ports`;
    writeFileSync(
      cfg,
      `version: 1\naccessLog: { to: none }\n${extra}services:\n  - { name: map, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${origin.port}" }\n`,
    );
    proc = startCli([cfg, '--port-file', ports]);
    await proc.waitFor(/rx3proxy running/);
    const port = (JSON.parse(readFileSync(ports, 'utf8')) as Record<string, number>)['map']!;
    return { pid: proc.child.pid!, port };
  }

  it('relays 512 MB with few page faults by default', async () => {
    const { pid, port } = await start('');
    // A first short transfer lets V8 collect the start-up block (glibc adjusts in that free()).
    await relayed(port);
    const before = minorFaults(pid);
    expect(await relayed(port)).toBe(TOTAL);
    const faults = minorFaults(pid) - before;
    if (runsOnGlibc()) expect(faults).toBeLessThan(TOTAL / 32768);
    else expect(faults).toBeGreaterThanOrEqual(0);
  }, 120000);

  it('accepts 0 (glibc default) and still relays everything', async () => {
    const { port } = await start('mallocTrimThreshold: 0\n');
    expect(await relayed(port)).toBe(TOTAL);
  }, 120000);

  it('warns at start about a value it cannot apply as written', async () => {
    await start('mallocTrimThreshold: 1GB\n');
    expect(proc!.output()).toContain('warning: mallocTrimThreshold 1GB is outside 1MB..64MB: 64MB is used');
  });

  it('applies once per process, and not at all for 0', () => {
    expect(retainFreedMemory(0)).toBe(0);
    const first = retainFreedMemory(32 * 1024 * 1024);
    expect(first).toBe(runsOnGlibc() ? 16 * 1024 * 1024 - 64 * 1024 : 0);
    expect(retainFreedMemory(32 * 1024 * 1024)).toBe(0);
  });
});
