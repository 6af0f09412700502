/** `syslog:IDENT` access-log targets (what the converter writes for 3proxy `log @IDENT`) are refused with a pointer to stdout. */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { toProxyError } from '../../core/errors';
import { runCli } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-syslog-'));
const svc = (extra = ''): string => `services:\n  - { name: s, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:9"${extra} }\n`;

function problemsOf(yaml: string): string[] {
  try {
    Runtime.fromText(yaml, join(dir, 'p.yaml'), { logger: silentLogger(), dryRun: true });
  } catch (err) {
    return toProxyError(err).errors.map((e) => e.message);
  }
  return [];
}

describe('syslog access-log targets', () => {
  it('are refused in the root accessLog and in a service accessLog', () => {
    expect(problemsOf(`version: 1\naccessLog: { to: "syslog:3proxy" }\n${svc()}`)).toEqual([
      expect.stringMatching(/service "s": .*accessLog\.to "syslog:3proxy".*syslog access logs are not supported: use "stdout" \(journald and docker collect it\) or a file/),
    ]);
    expect(problemsOf(`version: 1\n${svc(', accessLog: { to: "syslog:x" }')}`)).toEqual([expect.stringMatching(/service accessLog\.to "syslog:x".*use "stdout"/)]);
    expect(problemsOf(`version: 1\naccessLog: { to: stdout }\n${svc()}`)).toEqual([]);
  });

  it('make `rx3proxy validate` fail without creating a file named after the target', async () => {
    const cfg = join(dir, 'v.yaml');
    writeFileSync(cfg, `version: 1\naccessLog: { to: "syslog:daemon" }\n${svc()}`);
    const r = await runCli(['validate', cfg], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/syslog access logs are not supported: use "stdout"/);
    expect(readdirSync(dir).filter((n) => n.startsWith('syslog'))).toEqual([]);
  });
});
