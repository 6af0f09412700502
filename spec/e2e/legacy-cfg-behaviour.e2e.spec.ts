/**
 * A 3proxy.cfg with users, ordered ACLs, flush and per-service auth, run as it is: what 3proxy
 * would allow is allowed and what it would deny is denied, checked with curl through each
 * service. Then the same through `convert` + `validate` + run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, type Running } from '../helpers/cli';
import { httpServer, closedPort, type Fixture } from '../helpers/servers';
import { curl } from '../helpers/clients';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-cfg-behaviour-'));

describe('legacy 3proxy.cfg behaviour (users, ACL order, flush, per-service auth)', () => {
  let web: Fixture;
  let other: Fixture;
  let cfg: string;
  const port = { strong: 0, socks: 0, open: 0 };
  let run: Running | null = null;

  beforeAll(async () => {
    web = await httpServer();
    other = await httpServer();
    port.strong = await closedPort();
    port.socks = await closedPort();
    port.open = await closedPort();
    cfg = join(dir, '3proxy.cfg');
    writeFileSync(
      cfg,
      [
        'users alice:CL:wonderland bob:CL:builder',
        'log',
        '# service 1: strong auth; alice may reach the web port only, bob is denied, others fall to allow *',
        'auth strong',
        `allow alice * * ${web.port}`,
        'deny alice',
        'deny bob',
        'allow *',
        `proxy -i127.0.0.1 -p${port.strong}`,
        'flush',
        '# service 2: by source address only, to the web port only',
        'auth iponly',
        `allow * 127.0.0.1 * ${web.port}`,
        'deny *',
        `socks -i127.0.0.1 -p${port.socks}`,
        'flush',
        '# service 3: auth none, nothing checked',
        'auth none',
        `proxy -i127.0.0.1 -p${port.open}`,
        '',
      ].join('\n'),
    );
  });
  afterEach(async () => {
    if (run !== null && run.child.exitCode === null) {
      run.child.kill('SIGTERM');
      await run.exited();
    }
    run = null;
  });
  afterAll(async () => {
    await web.close();
    await other.close();
  });

  const status = async (args: string[]): Promise<string> => (await curl(['-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout;

  async function checkBehaviour(): Promise<void> {
    const strong = ['-x', `http://127.0.0.1:${port.strong}`];
    const webUrl = `http://127.0.0.1:${web.port}/hello`;
    const otherUrl = `http://127.0.0.1:${other.port}/hello`;
    // strong: no credentials -> 407; the first matching rule decides (allow alice to the web port,
    // then deny alice elsewhere); bob is denied; a wrong password is 407 again.
    expect(await status([...strong, webUrl])).toBe('407');
    expect(await status([...strong, '-U', 'alice:wonderland', webUrl])).toBe('200');
    expect(await status([...strong, '-U', 'alice:wonderland', otherUrl])).toBe('403');
    expect(await status([...strong, '-U', 'bob:builder', webUrl])).toBe('403');
    expect(await status([...strong, '-U', 'alice:wrong', webUrl])).toBe('407');
    // iponly socks: the web port from 127.0.0.1 is allowed, anything else denied (SOCKS reply 2:
    // curl exit 97 "connection to proxy closed"/refused by the ruleset).
    const viaSocks = ['--socks5-hostname', `127.0.0.1:${port.socks}`];
    expect((await curl([...viaSocks, webUrl])).stdout).toBe('hello world');
    const denied = await curl([...viaSocks, otherUrl]);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout).toBe('');
    // auth none after flush: no credentials needed, every target reachable.
    expect(await status(['-x', `http://127.0.0.1:${port.open}`, otherUrl])).toBe('200');
  }

  it('runs the .cfg directly with 3proxy semantics', async () => {
    run = startCli([cfg]);
    await run.waitFor(/rx3proxy running/);
    await checkBehaviour();
    // `log` with no argument: 3proxy's default format, one line per request, with the user.
    await run.waitFor(/ alice 127\.0\.0\.1:\d+ /);
  });

  it('convert -> validate -> run behaves the same', async () => {
    const yamlFile = join(dir, 'converted.yaml');
    const conv = await runCli(['convert', cfg, '-o', yamlFile]);
    expect(conv.code).toBe(0);
    expect((await runCli(['validate', yamlFile])).code).toBe(0);
    // The YAML names the source lines it came from.
    expect(readFileSync(yamlFile, 'utf8')).toMatch(/3proxy\.cfg:9/);
    run = startCli([yamlFile]);
    await run.waitFor(/rx3proxy running/);
    await checkBehaviour();
  });
});
