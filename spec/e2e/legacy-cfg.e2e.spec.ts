/**
 * A legacy 3proxy.cfg runs as it is, and `convert` + `validate` + run gives the same services.
 * The ACL snapshot semantics (each service line copies the ACL in force, `flush` empties it) are
 * checked with real connections.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../helpers/cli';
import { echoServer, closedPort, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-cfg-'));

async function roundTrip(port: number): Promise<string> {
  const c = await tcpConnect(port);
  const got = readAll(c).catch(() => Buffer.alloc(0));
  c.end('ping');
  return (await got).toString();
}

describe('legacy 3proxy.cfg', () => {
  let echo: Fixture;
  let cfg: string;
  let open: number;
  let closedSvc: number;
  beforeAll(async () => {
    echo = await echoServer();
    open = await closedPort();
    closedSvc = await closedPort();
    cfg = join(dir, '3proxy.cfg');
    writeFileSync(
      cfg,
      [
        '# two mappers: the first allows loopback, then flush, the second denies everyone',
        'log',
        'auth iponly',
        'allow * 127.0.0.1',
        `tcppm -i127.0.0.1 ${open} 127.0.0.1 ${echo.port}`,
        'flush',
        'deny *',
        `tcppm -i127.0.0.1 ${closedSvc} 127.0.0.1 ${echo.port}`,
        '',
      ].join('\n'),
    );
  });
  afterAll(() => echo.close());

  it('runs directly, with 3proxy semantics for flush and per-service ACL snapshots', async () => {
    const portFile = join(dir, 'ports.json');
    const p = startCli([cfg, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    const ports = Object.values(JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>).sort();
    expect(ports).toEqual([open, closedSvc].sort());
    expect(await roundTrip(open)).toBe('ping');
    expect(await roundTrip(closedSvc)).toBe('');
    // `log` with no argument: one record per request on stdout in 3proxy's default format.
    await p.waitFor(new RegExp(`${closedSvc} 00001 - 127\\.0\\.0\\.1:\\d+`));
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  });

  it('convert -> validate -> run gives the same listening services', async () => {
    const yamlFile = join(dir, 'converted.yaml');
    const conv = await runCli(['convert', cfg, '-o', yamlFile]);
    expect(conv.code).toBe(0);
    expect(readFileSync(yamlFile, 'utf8')).toContain('3proxy.cfg:5');
    expect((await runCli(['validate', yamlFile])).code).toBe(0);
    const portFile = join(dir, 'ports2.json');
    const p = startCli([yamlFile, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    const direct = Object.values(JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>).sort();
    expect(direct).toEqual([open, closedSvc].sort());
    expect(await roundTrip(open)).toBe('ping');
    expect(await roundTrip(closedSvc)).toBe('');
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  });

  it('refuses what 3proxy refuses, with its wording and FILE:LINE', async () => {
    const bad = join(dir, 'bad.cfg');
    writeFileSync(bad, 'proxy -p3128\nuser:CL:pass\n');
    const r = await runCli([bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.cfg:2:1: \/: .*Unknown command.*user:CL:pass/);
  });
});
