/** The command line as users run it: a real process on the built dist/cli.js. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { runCli, startCli } from '../helpers/cli';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-cli-'));
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('rx3proxy CLI', () => {
  let echo: Fixture;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(() => echo.close());

  it('validate: three mistakes give three FILE:LINE:COL lines and exit 1', async () => {
    const file = write(
      'bad.yaml',
      ['version: 1', 'log: { level: loud }', 'services:', '  - name: m', '    type: tcppm', '    listen: 127.0.0.1:0', '    target: 127.0.0.1:80', '    maxconn: 0', '    bogus: 1', ''].join('\n'),
    );
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${file}:2:15: /log/level: must be one of`));
    expect(lines[1]).toBe(`${file}:8:14: /services/0/maxconn: must be >= 1`);
    expect(lines[2]).toBe(`${file}:9:5: /services/0/bogus: unknown key "bogus"`);
  });

  it('validate: a good config exits 0', async () => {
    const file = write('good.yaml', `version: 1\nservices:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:80" }\n`);
    const r = await runCli(['validate', file]);
    expect(r.stdout).toContain('ok');
    expect(r.code).toBe(0);
  });

  it('validate: checking a config with a log file writes no file and exits cleanly', async () => {
    const log = join(dir, 'never-written.log');
    const file = write('logfile.yaml', `version: 1\naccessLog: { to: "${log}" }\nservices:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:80" }\n`);
    const r = await runCli(['validate', file]);
    expect([r.code, r.stdout.trim(), r.stderr]).toEqual([0, `${file}: ok`, '']);
    expect(existsSync(log)).toBe(false);
  });

  it('validate: an ACL token that does not parse is reported with the service', async () => {
    const file = write('acl.yaml', `version: 1\nservices:\n  - name: m\n    type: tcppm\n    listen: "127.0.0.1:0"\n    target: "127.0.0.1:80"\n    acl: [ { allow: { sources: ["10.0.0.300/8"] } } ]\n`);
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\/services\/0: service "m": .*10\.0\.0\.300/);
  });

  it('prints help, version and the schema; usage errors exit 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('validate');
    const v = await runCli(['--version']);
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version);
    const schema = await runCli(['schema']);
    expect((JSON.parse(schema.stdout) as { title: string }).title).toBe('rx3proxy configuration');
    expect((await runCli(['--no-such-flag'])).code).toBe(2);
    expect((await runCli(['validate'])).code).toBe(2);
  });

  it('runs a config, writes the port file, serves, and stops on SIGTERM with exit 0', async () => {
    const cfg = write('run.yaml', `version: 1\naccessLog: { to: stdout, format: json }\nservices:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}" }\n`);
    const portFile = join(dir, 'ports.json');
    const p = startCli([cfg, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    const ports = JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>;
    const c = await tcpConnect(ports['m']!);
    const got = readAll(c);
    c.end('hi');
    expect((await got).toString()).toBe('hi');
    await p.waitFor(/"service":"m".*"code":0/);
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  });

  it('lets a live session finish within shutdownTimeout on SIGTERM', async () => {
    const cfg = write('drain.yaml', `version: 1\nshutdownTimeout: 5s\naccessLog: { to: stdout }\nservices:\n  - { name: m, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}" }\n`);
    const portFile = join(dir, 'ports2.json');
    const p = startCli([cfg, '--port-file', portFile]);
    await p.waitFor(/rx3proxy running/);
    const c = await tcpConnect((JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>)['m']!);
    c.write('a');
    await new Promise((r) => c.once('data', r));
    p.child.kill('SIGTERM');
    await p.waitFor(/"msg":"stopping"/);
    const rest = readAll(c);
    c.end('b');
    expect((await rest).toString()).toBe('b');
    expect(await p.exited()).toBe(0);
  });

  it('names the service and address when a port is in use, and exits 1', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    const cfg = write('busy.yaml', `version: 1\nservices:\n  - { name: busy, type: tcppm, listen: "127.0.0.1:${port}", target: "127.0.0.1:1" }\n`);
    const r = await runCli([cfg]);
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`service "busy" cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });
});
