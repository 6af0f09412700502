/**
 * tlspr end to end: curl speaks HTTPS to a local server through the SNI proxy (the proxy never
 * terminates TLS), bad first bytes are logged with the TLS error codes, and the check levels
 * 2-4 (ServerHello, server certificate, client certificate) pass or refuse real handshakes.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { curl, tcpConnect, closed, type CurlResult } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { echoServer, type Fixture } from '../helpers/servers';
import { makeCert, type TestCert } from '../helpers/starttls-server';

const NAME = 'tls.test.local';

describe('tlspr service', () => {
  let https: Server;
  let httpsPort: number;
  /** Asks for a client certificate (check level 4). */
  let mtls: Server;
  let mtlsPort: number;
  let echo: Fixture;
  let clientCert: TestCert;
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
    mtls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
      res.end(`client ${typeof cn === 'string' ? cn : 'none'}`);
    });
    await new Promise<void>((resolve) => mtls.listen(0, '127.0.0.1', resolve));
    mtlsPort = (mtls.address() as AddressInfo).port;
    echo = await echoServer();
    clientCert = makeCert('client.test');
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    for (const server of [https, mtls]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await echo.close();
    clientCert.cleanup();
  });

  const config = (options = '', port = httpsPort): string => `
version: 1
resolver: { hosts: { ${NAME}: 127.0.0.1 } }
services:
  - name: sni
    type: tlspr
    listen: 127.0.0.1:0
    auth: [none]
    options: { tlsPort: ${port} ${options} }
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

  const through = (port: number, extra: string[] = []): Promise<CurlResult> =>
    curl(['-k', ...extra, '--resolve', `${NAME}:${port}:127.0.0.1`, `https://${NAME}:${port}/`]);

  describe('check levels', () => {
    it('level 2 relays a server that answers with a ServerHello', async () => {
      proxy = await startProxy(config(', tlsCheck: 2'));
      const r = await through(proxy.ports['sni']!);
      expect(r.stdout).toBe(`hello from ${NAME}:${proxy.ports['sni']!}`);
      const [rec] = await proxy.waitForRecords(1);
      expect(['PRX_ERR_CLIENT_RESET', null]).toContain(rec!.errorCode);
    });

    it('level 2 refuses a server that does not speak TLS (an echo answers the ClientHello)', async () => {
      proxy = await startProxy(config(', tlsCheck: 2', echo.port));
      const r = await through(proxy.ports['sni']!);
      expect(r.code).not.toBe(0);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_TLS_CHECK', host: NAME });
    });

    it('level 3 refuses TLS 1.3 (certificates are encrypted) and passes TLS 1.2 with a server certificate', async () => {
      proxy = await startProxy(config(', tlsCheck: 3'));
      const port = proxy.ports['sni']!;
      expect((await through(port)).code).not.toBe(0);
      const [refused] = await proxy.waitForRecords(1);
      expect(refused).toMatchObject({ errorCode: 'PRX_ERR_TLS_CHECK' });
      const r = await through(port, ['--tls-max', '1.2']);
      expect(r.stdout).toBe(`hello from ${NAME}:${port}`);
      const recs = await proxy.waitForRecords(2);
      expect(['PRX_ERR_CLIENT_RESET', null]).toContain(recs[1]!.errorCode);
      expect(recs[1]!.text).toMatch(/^TLSv1\.[23] /);
    });

    it('level 4 refuses a server that asks for no client certificate', async () => {
      proxy = await startProxy(config(', tlsCheck: 4'));
      expect((await through(proxy.ports['sni']!, ['--tls-max', '1.2'])).code).not.toBe(0);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_TLS_CHECK' });
    });

    it('level 4 relays mutual TLS and refuses a client without a certificate', async () => {
      proxy = await startProxy(config(', tlsCheck: 4', mtlsPort));
      const port = proxy.ports['sni']!;
      const ok = await through(port, ['--tls-max', '1.2', '--cert', clientCert.certFile, '--key', clientCert.keyFile]);
      expect(ok.stdout).toBe('client client.test');
      await proxy.waitForRecords(1);
      expect((await through(port, ['--tls-max', '1.2'])).code).not.toBe(0);
      const recs = await proxy.waitForRecords(2);
      expect(recs[1]).toMatchObject({ errorCode: 'PRX_ERR_TLS_CLIENT_CERT' });
    });

    it.each([0, 2, 4])('level %s: a ClientHello without a name is PRX_ERR_TLS_NO_SNI before any connect', async (level) => {
      proxy = await startProxy(config(`, tlsCheck: ${level}`));
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: proxy!.ports['sni']!, rejectUnauthorized: false });
        s.once('error', () => resolve());
        s.once('close', () => resolve());
      });
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_TLS_NO_SNI', remotePort: 0 });
    });
  });
});
