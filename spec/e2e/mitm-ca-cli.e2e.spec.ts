/**
 * `rx3proxy ca` as a real process: the CA it writes (key 0600), the warning it prints, no
 * overwrite without --force, and that CA used by `rx3proxy run` to intercept curl's HTTPS.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../helpers/cli';
import { curl } from '../helpers/clients';
import { httpsOrigin, type HttpsOrigin } from '../helpers/https-origin';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-ca-cli-'));
const path = (name: string): string => join(dir, name);
let origin: HttpsOrigin;

beforeAll(async () => {
  origin = await httpsOrigin(dir);
});

afterAll(async () => {
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rx3proxy ca', () => {
  it('writes a CA certificate and a 0600 key, warns, and refuses to overwrite without --force', async () => {
    const args = ['ca', '--cert', path('ca.pem'), '--key', path('ca.key'), '--name', 'Test MITM CA', '--days', '30'];
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('WARNING: a client that trusts this CA accepts every certificate');
    expect(r.stdout).toContain(`curl --cacert ${path('ca.pem')}`);
    expect(statSync(path('ca.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(path('ca.pem')));
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('CN=Test MITM CA');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(path('ca.key'))))).toBe(true);
    expect(Date.parse(cert.validTo) - Date.now()).toBeLessThan(31 * 24 * 3600 * 1000);

    const again = await runCli(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exist; not overwritten (use --force');
    expect(new X509Certificate(readFileSync(path('ca.pem'))).fingerprint256).toBe(cert.fingerprint256);

    chmodSync(path('ca.key'), 0o644);
    const forced = await runCli([...args, '--force']);
    expect(forced.code).toBe(0);
    expect(new X509Certificate(readFileSync(path('ca.pem'))).fingerprint256).not.toBe(cert.fingerprint256);
    expect(statSync(path('ca.key')).mode & 0o777).toBe(0o600);

    const bad = await runCli(['ca', '--cert', path('x.pem'), '--key', path('x.key'), '--days', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--days must be a whole number');
  });

  it('makes a CA that `rx3proxy run` intercepts with: curl trusting it fetches an HTTPS origin', async () => {
    expect((await runCli(['ca', '--cert', path('run-ca.pem'), '--key', path('run-ca.key')])).code).toBe(0);
    const cfg = path('run.yaml');
    writeFileSync(
      cfg,
      `version: 1
accessLog: { to: stdout, format: json }
services:
  - name: web
    type: proxy
    listen: 127.0.0.1:0
    mitm: { ca: { cert: run-ca.pem, key: run-ca.key }, cacheDir: ./certs, origin: { ca: origin-ca.pem } }
`,
    );
    const portFile = path('ports.json');
    const p = startCli([cfg, '--port-file', portFile]);
    try {
      await p.waitFor(/rx3proxy running/);
      const port = (JSON.parse(readFileSync(portFile, 'utf8')) as Record<string, number>)['web']!;
      const r = await curl(['--cacert', path('run-ca.pem'), '-x', `http://127.0.0.1:${port}`, `https://localhost:${origin.port}/via-cli`]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ url: '/via-cli' });
      await p.waitFor(new RegExp(`GET https://localhost:${origin.port}/via-cli HTTP/1.1`));
      expect(statSync(path('certs')).mode & 0o777).toBe(0o700);
    } finally {
      p.child.kill('SIGTERM');
      expect(await p.exited()).toBe(0);
    }
  });
});
