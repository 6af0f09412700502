/**
 * TLS on a service's listener: an HTTPS proxy driven by curl (--proxy https://), mutual TLS,
 * SOCKS5 and tcppm over TLS, handshake failures that are logged and leave nothing open, load
 * errors with positions for bad key material, and certificates re-read on reload.
 * Every certificate is made here with the openssl CLI in a temporary directory.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Runtime } from '../../core/runtime';
import { Supervisor } from '../../core/reload';
import { ProxyError } from '../../core/errors';
import { silentLogger } from '../../core/logger';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { CertDir, startLogged, type LoggedProxy } from '../helpers/tls';

const certs = new CertDir();
const dir = certs.dir;
const file = join(dir, 'proxy.yaml');
const pem = (name: string): string => certs.path(name);
const issue = (name: string, cn: string, ca: string | null, san?: string): void => certs.issue(name, cn, ca, san);

interface Proxy extends LoggedProxy {
  /** The port of the only service. */
  readonly port: number;
}

async function start(yaml: string): Promise<Proxy> {
  const p = await startLogged(yaml, file);
  return { ...p, port: Object.values(p.ports)[0]! };
}

const service = (type: string, tls: string, extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: front
    type: ${type}
    listen: 127.0.0.1:0
    tls: { ${tls} }
${extra}`;

const SERVER_TLS = 'cert: server.pem, key: server.key';
const MTLS = `${SERVER_TLS}, ca: ca.pem, requestCert: true`;

/** The load error of a config, as the problems it carries. */
function loadProblems(yaml: string): { pointer: string; line: number; column: number; message: string }[] {
  writeFileSync(file, yaml);
  try {
    Runtime.fromText(yaml, file, { logger: silentLogger() });
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('PRX_ERR_CONFIG_INVALID');
    return [...(err as ProxyError).errors];
  }
  throw new Error('the config loaded');
}

function tlsClient(port: number, opts: { cert?: string; key?: string; alpn?: string[] } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(pem('ca.pem')),
      ...(opts.cert !== undefined ? { cert: readFileSync(pem(opts.cert)) } : {}),
      ...(opts.key !== undefined ? { key: readFileSync(pem(opts.key)) } : {}),
      ...(opts.alpn !== undefined ? { ALPNProtocols: opts.alpn } : {}),
    });
    s.once('secureConnect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Reads exactly `n` bytes (waits on data events). */
function readBytes(s: TLSSocket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      if (got.length < n) return;
      s.removeListener('data', onData);
      if (got.length > n) s.unshift(got.subarray(n));
      resolve(got.subarray(0, n));
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed after ${got.length} of ${n} bytes`)));
  });
}

describe('TLS listener', () => {
  let web: Fixture;
  let echo: Fixture;
  let origin: HttpsServer;
  let originPort: number;
  let proxy: Proxy | null = null;

  beforeAll(async () => {
    certs.ca('ca', 'rx3proxy test CA');
    issue('server', '127.0.0.1', 'ca', 'IP:127.0.0.1');
    issue('server2', '127.0.0.1', 'ca', 'IP:127.0.0.1');
    issue('client', 'client one', 'ca');
    issue('stranger', 'stranger', null);
    writeFileSync(pem('garbage.pem'), 'not a certificate\n');
    web = await httpServer();
    echo = await echoServer();
    origin = createHttpsServer({ key: readFileSync(pem('stranger.key')), cert: readFileSync(pem('stranger.pem')) }, (_req, res) => res.end('secure hello'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originPort = (origin.address() as AddressInfo).port;
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.rt.stop(0);
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await web.close();
    await echo.close();
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
    certs.remove();
  });

  describe('HTTPS proxy (curl --proxy https://)', () => {
    it('fetches an HTTP origin through the TLS listener', async () => {
      proxy = await start(service('proxy', SERVER_TLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, '--proxy-cacert', pem('ca.pem'), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello world');
    });

    it('tunnels CONNECT to an HTTPS origin (TLS inside TLS)', async () => {
      proxy = await start(service('proxy', SERVER_TLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, '--proxy-cacert', pem('ca.pem'), '-k', `https://127.0.0.1:${originPort}/`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('secure hello');
    });

    it('is refused by a client that does not trust the certificate', async () => {
      proxy = await start(service('proxy', SERVER_TLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, `http://127.0.0.1:${web.port}/hello`]);
      expect(r.code).toBe(60);
      expect(r.stdout).toBe('');
    });

    it('does not serve a plain-text client', async () => {
      proxy = await start(service('proxy', SERVER_TLS));
      const s = await tcpConnect(proxy.port);
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.write(`GET http://127.0.0.1:${web.port}/hello HTTP/1.0\r\n\r\n`);
      await closed(s);
      expect(got).not.toContain('hello world');
      const log = await proxy.waitForLog((l) => l['code'] === 'PRX_ERR_TLS_HANDSHAKE');
      expect(log).toMatchObject({ level: 40, service: 'front' });
      await proxy.rt.whenIdle();
    });

    it('cuts a client that does not finish the handshake within timeouts.handshake', async () => {
      proxy = await start(service('proxy', SERVER_TLS, '    timeouts: { handshake: 300ms }'));
      const s = await tcpConnect(proxy.port);
      await closed(s);
      const log = await proxy.waitForLog((l) => l['code'] === 'PRX_ERR_TLS_HANDSHAKE');
      expect(log['reason']).toBe('handshake timeout');
      await proxy.rt.whenIdle();
    });
  });

  describe('mutual TLS', () => {
    it('refuses a client without a certificate', async () => {
      proxy = await start(service('proxy', MTLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, '--proxy-cacert', pem('ca.pem'), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      const log = await proxy.waitForLog((l) => l['code'] === 'PRX_ERR_TLS_HANDSHAKE');
      expect(String(log['reason'])).toMatch(/CERTIFICATE/);
    });

    it('refuses a certificate the CA did not sign', async () => {
      proxy = await start(service('proxy', MTLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, '--proxy-cacert', pem('ca.pem'), '--proxy-cert', pem('stranger.pem'), '--proxy-key', pem('stranger.key'), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      const log = await proxy.waitForLog((l) => l['code'] === 'PRX_ERR_TLS_HANDSHAKE');
      expect(log['reason']).toBe('client certificate rejected: DEPTH_ZERO_SELF_SIGNED_CERT');
    });

    it('accepts a client certificate signed by the CA', async () => {
      proxy = await start(service('proxy', MTLS));
      const r = await curl(['--proxy', `https://127.0.0.1:${proxy.port}`, '--proxy-cacert', pem('ca.pem'), '--proxy-cert', pem('client.pem'), '--proxy-key', pem('client.key'), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello world');
    });
  });

  describe('other services over TLS', () => {
    it('SOCKS5 CONNECT over TLS reaches an echo server', async () => {
      proxy = await start(service('socks', SERVER_TLS));
      const s = await tlsClient(proxy.port);
      s.write(Buffer.from([5, 1, 0]));
      expect([...(await readBytes(s, 2))]).toEqual([5, 0]);
      s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 0xff]));
      const reply = await readBytes(s, 10);
      expect(reply[1]).toBe(0);
      s.write('ping over tls');
      expect((await readBytes(s, 13)).toString()).toBe('ping over tls');
      s.end();
      await closed(s);
    });

    it('tcppm over TLS, with ALPN, TLS 1.3 only and a cipher list', async () => {
      proxy = await start(service('tcppm', `${SERVER_TLS}, minVersion: TLSv1.3, alpn: [rx3, http/1.1], ciphers: "ECDHE+AESGCM"`, `    target: 127.0.0.1:${echo.port}`));
      const s = await tlsClient(proxy.port, { alpn: ['http/1.1'] });
      expect(s.alpnProtocol).toBe('http/1.1');
      expect(s.getProtocol()).toBe('TLSv1.3');
      s.write('mapped');
      expect((await readBytes(s, 6)).toString()).toBe('mapped');
      s.destroy();
      await proxy.rt.whenIdle();
      const old = tlsConnect({ host: '127.0.0.1', port: proxy.port, ca: readFileSync(pem('ca.pem')), maxVersion: 'TLSv1.2' });
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => old.once('error', resolve));
      expect(err.code).toMatch(/ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
    });
  });

  describe('load errors', () => {
    it('a missing cert file, with its position', () => {
      const problems = loadProblems(service('proxy', 'cert: nope.pem, key: server.key'));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ pointer: '/services/0/tls/cert', line: 8 });
      expect(problems[0]!.column).toBeGreaterThan(12);
      expect(problems[0]!.message).toMatch(/^PRX_ERR_CONFIG_VALUE: cannot read cert file .*nope\.pem: ENOENT$/);
    });

    it('a file that is not a certificate', () => {
      const [p] = loadProblems(service('proxy', 'cert: garbage.pem, key: server.key'));
      expect(p).toMatchObject({ pointer: '/services/0/tls/cert' });
      expect(p!.message).toContain('not a PEM certificate');
    });

    it('a key that does not match the certificate', () => {
      const [p] = loadProblems(service('proxy', 'cert: server.pem, key: client.key'));
      expect(p).toMatchObject({ pointer: '/services/0/tls/key' });
    });

    it('no key, and requestCert without a CA', () => {
      expect(loadProblems(service('proxy', 'cert: server.pem'))[0]).toMatchObject({ pointer: '/services/0/tls', message: 'PRX_ERR_CONFIG_VALUE: missing required key "key"' });
      expect(loadProblems(service('proxy', `${SERVER_TLS}, requestCert: true`))[0]).toMatchObject({ pointer: '/services/0/tls/requestCert' });
    });
  });

  describe('reload', () => {
    let sup: Supervisor | null = null;
    afterEach(async () => {
      await sup?.stop(0);
      sup = null;
    });

    const fingerprint = async (port: number): Promise<string> => {
      const s = await tlsClient(port);
      const f = s.getPeerX509Certificate()!.fingerprint256;
      s.destroy();
      return f;
    };

    it('re-reads the certificate, and keeps the old one when the new files are bad', async () => {
      copyFileSync(pem('server.pem'), pem('live.pem'));
      copyFileSync(pem('server.key'), pem('live.key'));
      writeFileSync(file, service('proxy', 'cert: live.pem, key: live.key'));
      sup = new Supervisor(file, { logger: silentLogger() });
      await sup.start();
      const port = sup.runtime.ports()['front']!;
      const first = await fingerprint(port);
      copyFileSync(pem('server2.pem'), pem('live.pem'));
      copyFileSync(pem('server2.key'), pem('live.key'));
      expect(await sup.reload()).toMatchObject({ ok: true });
      expect(sup.runtime.ports()['front']).toBe(port);
      const second = await fingerprint(port);
      expect(second).not.toBe(first);
      writeFileSync(pem('live.key'), 'broken\n');
      expect(await sup.reload()).toMatchObject({ ok: false });
      expect(await fingerprint(port)).toBe(second);
    });
  });
});
