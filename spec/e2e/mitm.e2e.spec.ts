/**
 * MITM (3proxy ssl_mitm) end to end: curl trusting the MITM CA fetches an HTTPS origin that has
 * its own test CA, through `-x http://proxy`; the inner requests are logged with their https://
 * URL, refused per request by the ACL and by a plugin operator, and the origin's certificate is
 * checked. Minted certificates are inspected from a raw TLS client: SAN, issuer, the memory
 * cache, the directory cache across restarts. Tunnels an ACL rule exempts stay opaque. Bad
 * input: plain text after CONNECT, a ClientHello without SNI. Every key is made here.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { createCa } from '../../core/mitm/certs';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { httpsOrigin, type HttpsOrigin } from '../helpers/https-origin';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-mitm-'));
const path = (name: string): string => join(dir, name);
const PLUGIN = join(__dirname, '..', 'fixtures', 'plugins', 'path-block.js');

let origin: HttpsOrigin;
let originPort = 0;
/** The same origin on a second port, which the ACL exempts from interception. */
let exemptPort = 0;
let exempt: HttpsOrigin;
let proxy: RunningProxy | null = null;

beforeAll(async () => {
  const ca = await createCa('rx3proxy MITM test CA', 2);
  writeFileSync(path('mitm-ca.pem'), ca.certPem);
  writeFileSync(path('mitm-ca.key'), ca.keyPem, { mode: 0o600 });
  origin = await httpsOrigin(dir);
  originPort = origin.port;
  exempt = await httpsOrigin(dir, false);
  exemptPort = exempt.port;
});

afterEach(async () => {
  await proxy?.stop();
  proxy = null;
});

afterAll(async () => {
  await origin.close();
  await exempt.close();
  rmSync(dir, { recursive: true, force: true });
});

const config = (cacheDir: string): string => `
version: 1
accessLog: { to: none, format: json }
plugins:
  - { module: ${PLUGIN} }
services:
  - name: mitm
    type: proxy
    listen: 127.0.0.1:0
    auth: [iponly]
    mitm:
      ca: { cert: ${path('mitm-ca.pem')}, key: ${path('mitm-ca.key')} }
      cacheDir: ${cacheDir}
      origin: { ca: ${path('origin-ca.pem')} }
    acl:
      - allow: { ports: [${exemptPort}], operations: [HTTP_CONNECT] }
        mitm: false
      - deny: { operations: [HTTP_POST] }
      - allow: {}
    pipeline:
      - readRequest: { protocol: http }
      - filterHeaders: {}
      - authenticate: {}
      - authorize: {}
      - pathblock.block: { prefix: /secret }
      - limits: {}
      - mitm: {}
      - connect: {}
      - mapSockets: {}
      - log: {}
  - name: strict
    type: proxy
    listen: 127.0.0.1:0
    mitm:
      ca: { cert: ${path('mitm-ca.pem')}, key: ${path('mitm-ca.key')} }
`;

async function start(cacheDir = path('cache')): Promise<RunningProxy> {
  proxy = await startProxy(config(cacheDir), path('proxy.yaml'));
  return proxy;
}

const viaMitm = (p: RunningProxy, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  curl(['--cacert', path('mitm-ca.pem'), '-x', `http://127.0.0.1:${p.ports['mitm']}`, ...args]);

/** CONNECT through the proxy by hand, then TLS; resolves with the client's view of the server certificate. */
async function handshake(port: number, target: string, servername: string | null): Promise<{ tls: TLSSocket; cert: PeerCertificate }> {
  const s = await tcpConnect(port);
  s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  await established(s);
  const tls = tlsConnect({ socket: s, ca: readFileSync(path('mitm-ca.pem')), ...(servername === null ? { servername: '', checkServerIdentity: () => undefined } : { servername }) });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  return { tls, cert: tls.getPeerCertificate() };
}

function established(s: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.0 200') ? resolve() : reject(new Error(d.toString()))));
    s.once('error', reject);
  });
}

describe('MITM through the HTTP proxy', () => {
  it('serves an HTTPS origin to curl trusting the MITM CA, keep-alive, logged with https:// URLs', async () => {
    const p = await start();
    const a = `https://localhost:${originPort}/hello?x=1`;
    const b = `https://localhost:${originPort}/again`;
    const r = await viaMitm(p, a, b);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bodies = r.stdout.replace('}{', '}\n{').split('\n').map((b) => JSON.parse(b) as Record<string, string>);
    expect(bodies.map((b) => b['url'])).toEqual(['/hello?x=1', '/again']);
    // filterHeaders ran on the inner requests: 3proxy's Forwarded header reached the origin.
    expect(bodies[0]!['forwarded']).toMatch(/^for="127\.0\.0\.1:\d+"/);
    const recs = await p.waitForRecords(3);
    const texts = recs.map((x) => x.text);
    expect(texts).toContain(`GET ${a} HTTP/1.1`);
    expect(texts).toContain(`GET ${b} HTTP/1.1`);
    // Both requests rode one tunnel (curl reuses the connection): one CONNECT record.
    expect(texts.filter((t) => t.startsWith('CONNECT'))).toEqual([`CONNECT localhost:${originPort} HTTP/1.1`]);
    const inner = recs.find((x) => x.text.startsWith('GET'))!;
    expect(inner.errorCode).toBeNull();
    expect(inner.bytesIn).toBeGreaterThan(0);
  });

  it('checks the ACL per inner request (POST denied with 403 inside the tunnel) and runs plugin steps on them', async () => {
    const p = await start();
    const post = await viaMitm(p, '-X', 'POST', '-d', 'x=1', '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${originPort}/form`);
    expect(post.stdout).toBe('403');
    const blocked = await viaMitm(p, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${originPort}/secret/page`);
    expect(blocked.stdout).toBe('403');
    const ok = await viaMitm(p, '-w', '%{http_code}', `https://localhost:${originPort}/public`);
    expect(ok.stdout).toContain('"url":"/public"');
    expect(ok.stdout.endsWith('200')).toBe(true);
    const recs = await p.waitForRecords(6);
    const denied = recs.filter((x) => x.errorCode === 'PRX_ERR_ACL_DENIED').map((x) => x.text);
    expect(denied).toEqual(expect.arrayContaining([`POST https://localhost:${originPort}/form HTTP/1.1`, `GET https://localhost:${originPort}/secret/page HTTP/1.1`]));
  });

  it('runs the regex-filter plugin on the decrypted requests: a path blocked and a header rewritten inside the tunnel', async () => {
    const p = await startProxy(
      `
version: 1
accessLog: { to: none, format: json }
plugins:
  - module: regex-filter
regexFilter:
  rules:
    - { types: [request], action: deny, pattern: '^GET https://[^/]+/private/' }
    - { types: [cliheader], action: dunno, pattern: 'X-Secret: [^\\r\\n]*', replace: 'X-Secret: redacted' }
services:
  - name: mitm
    type: proxy
    listen: 127.0.0.1:0
    filters: [regex-filter.pcre]
    mitm:
      ca: { cert: ${path('mitm-ca.pem')}, key: ${path('mitm-ca.key')} }
      origin: { ca: ${path('origin-ca.pem')} }
`,
      path('filtered.yaml'),
    );
    proxy = p;
    const blocked = await viaMitm(p, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${originPort}/private/report`);
    expect(blocked.code).toBe(0);
    expect(blocked.stdout).toBe('503');
    const ok = await viaMitm(p, '-H', 'X-Secret: hunter2', `https://localhost:${originPort}/public`);
    expect(ok.code).toBe(0);
    const body = JSON.parse(ok.stdout) as Record<string, string>;
    expect(body['url']).toBe('/public');
    // The origin saw the rewritten header: the filter ran on the decrypted request.
    expect(body['secret']).toBe('redacted');
    const recs = await p.waitForRecords(4);
    const refused = recs.find((x) => x.text === `GET https://localhost:${originPort}/private/report HTTP/1.1`);
    expect(refused?.errorCode).toBe('PRX_ERR_FILTER_REJECT');
  });

  it('mints a certificate with the SNI name in its SAN, issued by the MITM CA; cached in memory and on disk', async () => {
    const p = await start();
    const one = await handshake(p.ports['mitm']!, `localhost:${originPort}`, 'localhost');
    expect(one.cert.subjectaltname).toBe('DNS:localhost');
    expect(one.cert.issuer.CN).toBe('rx3proxy MITM test CA');
    expect(one.tls.authorized).toBe(true);
    one.tls.destroy();
    const two = await handshake(p.ports['mitm']!, `localhost:${originPort}`, 'localhost');
    expect(two.cert.fingerprint256).toBe(one.cert.fingerprint256);
    two.tls.destroy();
    const files = readdirSync(path('cache'));
    expect(files).toContain('leaf.key');
    expect(statSync(join(path('cache'), 'leaf.key')).mode & 0o777).toBe(0o600);
    expect(files.filter((f) => f.endsWith('.pem')).length).toBeGreaterThanOrEqual(1);
    await p.stop();
    proxy = null;
    // A new process (runtime) finds the same certificate in the directory.
    const q = await start();
    const three = await handshake(q.ports['mitm']!, `localhost:${originPort}`, 'localhost');
    expect(three.cert.fingerprint256).toBe(one.cert.fingerprint256);
    three.tls.destroy();
  });

  it('answers 502 inside the tunnel when the origin certificate does not verify', async () => {
    const p = await start();
    const r = await curl(['--cacert', path('mitm-ca.pem'), '-x', `http://127.0.0.1:${p.ports['strict']}`, '-w', '%{http_code}', `https://localhost:${originPort}/x`]);
    expect(r.stdout).toContain('PRX_ERR_MITM_ORIGIN_VERIFY');
    expect(r.stdout.endsWith('502')).toBe(true);
    const recs = await p.waitForRecords(1);
    const rec = recs.find((x) => x.errorCode === 'PRX_ERR_MITM_ORIGIN_VERIFY')!;
    expect(rec.text).toBe(`GET https://localhost:${originPort}/x HTTP/1.1`);
  });

  it('tunnels untouched what an ACL rule exempts (mitm: false): the client sees the origin certificate', async () => {
    const p = await start();
    const r = await curl(['--cacert', path('origin-ca.pem'), '-x', `http://127.0.0.1:${p.ports['mitm']}`, `https://127.0.0.1:${exemptPort}/plain`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('"url":"/plain"');
    const recs = await p.waitForRecords(1);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.text).toBe(`CONNECT 127.0.0.1:${exemptPort} HTTP/1.1`);
    expect(recs[0]!.bytesIn).toBeGreaterThan(0);
  });

  it('sends inner requests through the parent chain the ACL picks (CONNECT to an HTTP parent, then TLS)', async () => {
    const parent = await startProxy(`version: 1\naccessLog: { to: none, format: json }\nservices:\n  - { name: up, type: proxy, listen: 127.0.0.1:0 }\n`, path('parent.yaml'));
    try {
      proxy = await startProxy(
        `version: 1
accessLog: { to: none, format: json }
services:
  - name: chained
    type: proxy
    listen: 127.0.0.1:0
    mitm:
      ca: { cert: ${path('mitm-ca.pem')}, key: ${path('mitm-ca.key')} }
      origin: { ca: ${path('origin-ca.pem')} }
    acl:
      - allow: {}
        parents: [{ type: http, host: 127.0.0.1, port: ${parent.ports['up']} }]
`,
        path('chained.yaml'),
      );
      const r = await curl(['--cacert', path('mitm-ca.pem'), '-x', `http://127.0.0.1:${proxy.ports['chained']}`, `https://localhost:${originPort}/chained`]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ url: '/chained' });
      const up = await parent.waitForRecords(1);
      // An `http` parent gets the resolved address (3proxy: only "+" types pass the name on).
      expect(up[0]!.text).toBe(`CONNECT 127.0.0.1:${originPort} HTTP/1.0`);
      const recs = await proxy.waitForRecords(2);
      expect(recs.map((x) => x.text)).toContain(`GET https://localhost:${originPort}/chained HTTP/1.1`);
    } finally {
      await parent.stop();
    }
  });

  it('mints for an SNI name other than the CONNECT host, and the origin must then prove that name (502 here)', async () => {
    const p = await start();
    const h = await handshake(p.ports['mitm']!, `localhost:${originPort}`, 'other.test');
    expect(h.cert.subjectaltname).toBe('DNS:other.test');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      h.tls.on('data', (d: Buffer) => (text += d.toString()));
      // The raw socket is half-open capable: the server's end is the answer's end.
      h.tls.on('end', () => resolve(text));
    });
    h.tls.write('GET /sni HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n');
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.0 502/);
    expect(text).toContain('ERR_TLS_CERT_ALTNAME_INVALID for other.test');
    const recs = await p.waitForRecords(1);
    // The target stays the CONNECT host whatever the client names: that is what the ACL checked.
    expect(recs.find((x) => x.errorCode === 'PRX_ERR_MITM_ORIGIN_VERIFY')?.text).toBe(`GET https://localhost:${originPort}/sni HTTP/1.1`);
    h.tls.destroy();
  });

  it('uses the CONNECT host for a ClientHello without SNI', async () => {
    const p = await start();
    const h = await handshake(p.ports['mitm']!, `localhost:${originPort}`, null);
    expect(h.cert.subjectaltname).toBe('DNS:localhost');
    h.tls.destroy();
  });

  it('closes and logs a client that does not speak TLS after CONNECT', async () => {
    const p = await start();
    const s = await tcpConnect(p.ports['mitm']!);
    s.write(`CONNECT localhost:${originPort} HTTP/1.1\r\n\r\n`);
    await established(s);
    s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await closed(s);
    const recs = await p.waitForRecords(1);
    expect(recs[0]!.errorCode).toBe('PRX_ERR_MITM_CLIENT_HANDSHAKE');
    expect(recs[0]!.text).toBe(`CONNECT localhost:${originPort} HTTP/1.1`);
  });
});
