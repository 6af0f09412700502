/**
 * tlspr end to end: curl speaks HTTPS to a local server through the SNI proxy (the proxy never
 * terminates TLS), and bad first bytes are logged with the TLS error codes.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const NAME = 'tls.test.local';

describe('tlspr service', () => {
  let https: Server;
  let httpsPort: number;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tlspr-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME}`], { stdio: 'ignore' });
    https = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      res.end(`hello from ${String(req.headers.host)}`);
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    httpsPort = (https.address() as AddressInfo).port;
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    https.closeAllConnections();
    await new Promise((resolve) => https.close(resolve));
  });

  const config = (options = ''): string => `
version: 1
resolver: { hosts: { ${NAME}: 127.0.0.1 } }
services:
  - name: sni
    type: tlspr
    listen: 127.0.0.1:0
    auth: [none]
    options: { tlsPort: ${httpsPort} ${options} }
    accessLog: { to: none, format: json }
`;

  it('relays curl HTTPS to the SNI host on tlsPort and logs version, SNI and ALPN', async () => {
    proxy = await startProxy(config());
    const port = proxy.ports['sni']!;
    const r = await curl(['-k', '--resolve', `${NAME}:${port}:127.0.0.1`, `https://${NAME}:${port}/`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`hello from ${NAME}:${port}`);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'sni', operation: 'CONNECT', host: NAME, requestedPort: httpsPort });
    // curl closes once it has the body; TLS 1.3 session tickets the server sends after the
    // response can then meet a closed socket, and the client's kernel answers with a reset.
    // Both endings are a complete relay: the body above arrived whole.
    expect(['PRX_ERR_CLIENT_RESET', null]).toContain(rec!.errorCode);
    expect(rec!.bytesIn).toBeGreaterThan(0);
    expect(rec!.text).toMatch(new RegExp(`TLSv1\\.[23] ${NAME.replace(/\./g, '\\.')} `));
    expect(proxy.lines[0]).toContain(NAME);
  });

  it('still relays with split: true', async () => {
    proxy = await startProxy(config(', split: true'));
    const port = proxy.ports['sni']!;
    const r = await curl(['-k', '--resolve', `${NAME}:${port}:127.0.0.1`, `https://${NAME}:${port}/x`]);
    expect(r.stdout).toBe(`hello from ${NAME}:${port}`);
    await proxy.waitForRecords(1);
  });

  it('closes and logs PRX_ERR_TLS_NO_SNI for a ClientHello without server name', async () => {
    proxy = await startProxy(config());
    const errored = new Promise<Error | null>((resolve) => {
      // An IP as host: Node sends no SNI.
      const s = tlsConnect({ host: '127.0.0.1', port: proxy!.ports['sni']!, rejectUnauthorized: false });
      s.once('error', (e) => resolve(e));
      s.once('close', () => resolve(null));
    });
    await errored;
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'sni', errorCode: 'PRX_ERR_TLS_NO_SNI' });
  });

  it('closes and logs PRX_ERR_TLS_NO_HELLO for garbage', async () => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['sni']!);
    c.write('GET / HTTP/1.0\r\n\r\n');
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'sni', errorCode: 'PRX_ERR_TLS_NO_HELLO' });
  });
});
