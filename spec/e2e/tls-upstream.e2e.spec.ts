/**
 * TLS from the proxy outwards: parent chains with TLS hops (an rx3proxy with a `tls:` listener
 * as the `https` / `socks5s` parent, TLS hops after a plain hop and inside another TLS hop),
 * verification failures (wrong CA, wrong name) with their codes and log lines, mutual TLS to the
 * parent, unreachable and silent TLS parents, and `upstreamTls:` (3proxy ssl_cli): curl asks for
 * http:// and the proxy reaches an HTTPS origin, verified. Real curl, real sockets on loopback.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { CertDir, startLogged, type LoggedProxy } from '../helpers/tls';
import { blackHole, closedPort, httpServer, type Fixture } from '../helpers/servers';
import { curl, readAll, tcpConnect } from '../helpers/clients';
import { startCli } from '../helpers/cli';

const certs = new CertDir();
const pem = (name: string): string => certs.path(name);

const front = (acl: string, extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: front
    type: proxy
    listen: 127.0.0.1:0
    timeouts: { connect: 2s }
    acl:
      - allow: {}
${acl}
${extra}`;

/** `parents:` of the front's allow rule, one hop per entry. */
const parents = (...hops: string[]): string => `        parents:\n${hops.map((h) => `          - ${h}`).join('\n')}`;

describe('TLS towards parents and servers', () => {
  let web: Fixture;
  let origin: HttpsServer;
  let originPort: number;
  /** The parents: TLS proxy, mTLS proxy, TLS SOCKS5, plain proxy. */
  let back: LoggedProxy;
  let proxy: LoggedProxy | null = null;

  beforeAll(async () => {
    certs.ca('ca');
    certs.ca('other');
    certs.issue('server', 'parent.test', 'ca', 'DNS:parent.test,IP:127.0.0.1');
    certs.issue('client', 'client one', 'ca');
    web = await httpServer();
    origin = createHttpsServer({ key: readFileSync(pem('server.key')), cert: readFileSync(pem('server.pem')), ALPNProtocols: ['http/1.1'] }, (req, res) => {
      // What the proxy negotiated and asked for, for the ALPN and SNI checks.
      res.setHeader('x-alpn', String((req.socket as TLSSocket).alpnProtocol));
      res.setHeader('x-sni', String((req.socket as TLSSocket & { servername?: string }).servername));
      res.end(`secure ${req.url ?? ''}`);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originPort = (origin.address() as AddressInfo).port;
    const tls = `cert: ${pem('server.pem')}, key: ${pem('server.key')}`;
    back = await startLogged(
      `
version: 1
accessLog: { to: none, format: json }
services:
  - { name: tlsproxy, type: proxy, listen: 127.0.0.1:0, tls: { ${tls} } }
  - { name: mtls, type: proxy, listen: 127.0.0.1:0, tls: { ${tls}, ca: ${pem('ca.pem')}, requestCert: true } }
  - { name: tlssocks, type: socks, listen: 127.0.0.1:0, tls: { ${tls} } }
  - { name: plain, type: proxy, listen: 127.0.0.1:0 }
`,
      pem('back.yaml'),
    );
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.rt.stop(0);
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await back.rt.stop(0);
    await web.close();
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
    certs.remove();
  });

  const run = async (yaml: string): Promise<LoggedProxy> => (proxy = await startLogged(yaml, pem('front.yaml')));
  const via = (p: LoggedProxy): string[] => ['--proxy', `http://127.0.0.1:${p.ports['front']}`];
  const socks5s = (): string => `{ type: socks5s, host: 127.0.0.1, port: ${back.ports['tlssocks']}, tls: { ca: ${pem('ca.pem')}, servername: parent.test } }`;
  const https = (extra = ''): string => `{ type: https, host: 127.0.0.1, port: ${back.ports['tlsproxy']}, tls: { ca: ${pem('ca.pem')}${extra} } }`;

  describe('https parent (CONNECT over TLS)', () => {
    it('verifies the parent with the right CA and fetches through it', async () => {
      const p = await run(front(parents(https())));
      const r = await curl([...via(p), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello world');
      const rec = await p.waitForRecord(() => true);
      expect(rec).toMatchObject({ errorCode: null, hops: 1, remotePort: back.ports['tlsproxy'] });
    });

    it('tunnels CONNECT through the TLS parent to an HTTPS origin', async () => {
      const p = await run(front(parents(https())));
      const r = await curl([...via(p), '--cacert', pem('ca.pem'), `https://127.0.0.1:${originPort}/in-tunnel`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('secure /in-tunnel');
    });

    it('checks the name given as servername (SNI), and refuses one the certificate lacks', async () => {
      const ok = await run(front(parents(https(', servername: parent.test'))));
      expect((await curl([...via(ok), `http://127.0.0.1:${web.port}/hello`])).stdout).toBe('hello world');
      await ok.rt.stop(0);
      proxy = null;
      const p = await run(front(parents(https(', servername: wrong.test'))));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('502');
      const log = await p.waitForLog((l) => l['code'] === 'PRX_ERR_PARENT_TLS_VERIFY');
      expect(log).toMatchObject({ level: 40, reason: 'ERR_TLS_CERT_ALTNAME_INVALID', parent: `https 127.0.0.1:${back.ports['tlsproxy']}` });
      expect(await p.waitForRecord(() => true)).toMatchObject({ errorCode: 'PRX_ERR_PARENT_TLS_VERIFY', code: 72 });
    });

    it('refuses a parent whose certificate another CA signed (502, PRX_ERR_PARENT_TLS_VERIFY)', async () => {
      const p = await run(front(parents(`{ type: https, host: 127.0.0.1, port: ${back.ports['tlsproxy']}, tls: { ca: ${pem('other.pem')} } }`)));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('502');
      const log = await p.waitForLog((l) => l['code'] === 'PRX_ERR_PARENT_TLS_VERIFY');
      expect(log['reason']).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      // CONNECT gets the same verdict in its own form.
      const c = await curl([...via(p), '-p', '-o', '/dev/null', '-w', '%{http_connect}', `http://127.0.0.1:${web.port}/hello`]);
      expect(c.stdout).toBe('502');
    });

    it('verify: false accepts a certificate it cannot check', async () => {
      const p = await run(front(parents(`{ type: https, host: 127.0.0.1, port: ${back.ports['tlsproxy']}, tls: { verify: false } }`)));
      expect((await curl([...via(p), `http://127.0.0.1:${web.port}/hello`])).stdout).toBe('hello world');
    });
  });

  describe('mutual TLS to the parent', () => {
    const mtls = (extra: string): string => `{ type: https, host: 127.0.0.1, port: ${back.ports['mtls']}, tls: { ca: ${pem('ca.pem')}${extra} } }`;

    it('presents the client certificate the parent asks for', async () => {
      const p = await run(front(parents(mtls(`, cert: ${pem('client.pem')}, key: ${pem('client.key')}`))));
      const r = await curl([...via(p), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('hello world');
    });

    it('without one the parent refuses, and the client gets 502', async () => {
      const p = await run(front(parents(mtls(''))));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('502');
      const rec = await p.waitForRecord(() => true);
      expect(rec.errorCode).toMatch(/^PRX_ERR_PARENT_(TLS_HANDSHAKE|CONNECT_REPLY)$/);
      await back.waitForLog((l) => l['service'] === 'mtls' && String(l['reason']).includes('client certificate rejected'));
    });
  });

  describe('TLS hops inside chains', () => {
    it('a plain CONNECT hop, then TLS to the next hop through its tunnel', async () => {
      const p = await run(front(parents(`{ type: connect, host: 127.0.0.1, port: ${back.ports['plain']} }`, https())));
      const r = await curl([...via(p), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello world');
      expect(await p.waitForRecord(() => true)).toMatchObject({ hops: 2, errorCode: null });
    });

    it('TLS inside TLS: https to one parent, then socks5s to the next through that tunnel', async () => {
      // (A proxy refuses a CONNECT to its own listener, so the two TLS hops are two services.)
      const p = await run(front(parents(https(), socks5s())));
      const r = await curl([...via(p), '--cacert', pem('ca.pem'), `https://127.0.0.1:${originPort}/deep`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('secure /deep');
    });

    it('socks5s: SOCKS5 over TLS as the hop', async () => {
      const p = await run(front(parents(socks5s())));
      const r = await curl([...via(p), `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('hello world');
    });
  });

  describe('TLS parent failures', () => {
    it('an unreachable TLS parent: 502, the connect error, nothing left open', async () => {
      const port = await closedPort();
      const p = await run(front(parents(`{ type: https, host: 127.0.0.1, port: ${port} }`)));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('502');
      expect(await p.waitForRecord(() => true)).toMatchObject({ errorCode: 'PRX_ERR_CONNECT_REFUSED' });
      await p.rt.whenIdle();
    });

    it('a parent that never answers the handshake: 504 after the connect timeout, its socket closed', async () => {
      const hole = await blackHole();
      try {
        const p = await run(front(parents(`{ type: https, host: 127.0.0.1, port: ${hole.port} }`)).replace('connect: 2s', 'connect: 400ms'));
        const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
        expect(r.stdout).toBe('504');
        expect(await p.waitForRecord(() => true)).toMatchObject({ errorCode: 'PRX_ERR_PARENT_TIMEOUT' });
        await p.rt.whenIdle();
        // Every socket the parent accepted was closed by the proxy (parentRetries: 2 attempts).
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (hole.sockets.size === 0) resolve();
          };
          // The hole never reads: let it see the FIN.
          for (const s of hole.sockets) s.once('close', check).resume();
          check();
        });
      } finally {
        await hole.close();
      }
    });
  });

  describe('upstreamTls (3proxy ssl_cli)', () => {
    const upstream = (tls: string): string => front('', `    upstreamTls: { ${tls} }`);

    it('curl asks for http://, the proxy speaks verified TLS to the origin', async () => {
      const p = await run(upstream(`ca: ${pem('ca.pem')}`));
      const r = await curl([...via(p), `http://127.0.0.1:${originPort}/over-tls`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('secure /over-tls');
      // A CONNECT tunnel carries plain text from the client; the proxy encrypts it.
      const t = await curl([...via(p), '-p', `http://127.0.0.1:${originPort}/tunnel`]);
      expect(t.stdout).toBe('secure /tunnel');
    });

    it('through a TLS parent too: TLS to the origin inside the https hop', async () => {
      const p = await run(front(parents(https()), `    upstreamTls: { ca: ${pem('ca.pem')} }`));
      const r = await curl([...via(p), `http://127.0.0.1:${originPort}/chained`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('secure /chained');
      expect(await p.waitForRecord(() => true)).toMatchObject({ hops: 1, errorCode: null });
    });

    it('a pooled TLS connection verified for one name is not reused for another name of the same address', async () => {
      // An address rule makes the ACL resolve the name, so both requests carry address 127.0.0.1.
      const p = await run(upstream(`ca: ${pem('ca.pem')}`).replace('      - allow: {}', '      - allow: { targets: [127.0.0.0/8] }'));
      // One curl, keep-alive to the proxy: 127.0.0.1 is in the certificate, localhost is not.
      const r = await curl([...via(p), '-w', '%{http_code} %{num_connects}\n', '-o', '/dev/null', `http://127.0.0.1:${originPort}/a`, '-o', '/dev/null', `http://localhost:${originPort}/b`]);
      // The second request reused curl's connection to the proxy (0 new connects).
      expect(r.stdout).toBe('200 1\n502 0\n');
      expect(await p.waitForRecord((rec) => rec.host === 'localhost')).toMatchObject({ errorCode: 'PRX_ERR_UPSTREAM_TLS_VERIFY' });
    });

    it('an origin whose certificate does not verify: 502 and PRX_ERR_UPSTREAM_TLS_VERIFY', async () => {
      const p = await run(upstream(`ca: ${pem('other.pem')}`));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${originPort}/x`]);
      expect(r.stdout).toBe('502');
      const log = await p.waitForLog((l) => l['code'] === 'PRX_ERR_UPSTREAM_TLS_VERIFY');
      expect(log).toMatchObject({ target: `127.0.0.1:${originPort}`, reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      expect(await p.waitForRecord(() => true)).toMatchObject({ errorCode: 'PRX_ERR_UPSTREAM_TLS_VERIFY', code: 8011 });
    });

    it('an origin that does not speak TLS: 502 and PRX_ERR_UPSTREAM_TLS_HANDSHAKE', async () => {
      const p = await run(upstream(`ca: ${pem('ca.pem')}`));
      const r = await curl([...via(p), '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('502');
      expect(await p.waitForRecord(() => true)).toMatchObject({ errorCode: 'PRX_ERR_UPSTREAM_TLS_HANDSHAKE' });
    });

    it('tcppm with upstreamTls: a TLS offloader to a fixed HTTPS target, through an https parent', async () => {
      const p = await run(`
version: 1
accessLog: { to: none, format: json }
services:
  - name: front
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${originPort}
    upstreamTls: { ca: ${pem('ca.pem')}, servername: parent.test, alpn: [http/1.1] }
    acl:
      - allow: {}
${parents(https())}
`);
      const s = await tcpConnect(p.ports['front']!);
      s.end('GET /mapped HTTP/1.0\r\nHost: parent.test\r\n\r\n');
      const reply = (await readAll(s)).toString();
      expect(reply).toMatch(/^HTTP\/1\.[01] 200/);
      expect(reply).toMatch(/\r\nx-alpn: http\/1\.1\r\n/i);
      expect(reply).toMatch(/\r\nx-sni: parent\.test\r\n/i);
      expect(reply.endsWith('secure /mapped')).toBe(true);
    });
  });

  it("a legacy cfg runs 3proxy's TLS chain case: ssl_serv parent, ssl_cli mode 3 with a verified connects parent", async () => {
    const parent = await closedPort();
    const client = await closedPort();
    const cfg = pem('chain.cfg');
    writeFileSync(
      cfg,
      [
        `ssl_server_cert ${pem('server.pem')}`,
        `ssl_server_key ${pem('server.key')}`,
        'ssl_serv',
        'auth iponly',
        'allow *',
        `proxy -i127.0.0.1 -p${parent}`,
        'flush',
        'ssl_noserv',
        'auth iponly',
        'allow *',
        `parent 1000 connects 127.0.0.1 ${parent}`,
        'ssl_client_mode 3',
        `ssl_client_ca_file ${pem('ca.pem')}`,
        'ssl_client_verify',
        'ssl_cli',
        `proxy -i127.0.0.1 -p${client}`,
        '',
      ].join('\n'),
    );
    const p = startCli([cfg]);
    try {
      await p.waitFor(/rx3proxy running/);
      const r = await curl(['--proxy', `http://127.0.0.1:${client}`, `http://127.0.0.1:${web.port}/bytes/10000`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toHaveLength(10000);
    } finally {
      p.child.kill('SIGTERM');
      expect(await p.exited()).toBe(0);
    }
  });

  describe('load checks', () => {
    it('a parent tls: block with an unreadable CA, and tls: on a plain hop, fail with positions', () => {
      const yaml = front(parents(`{ type: https, host: 127.0.0.1, port: 1, tls: { ca: ./nope.pem } }`, `{ type: connect, host: 127.0.0.1, port: 2, tls: { verify: false } }`), '    upstreamTls: { cert: ./client.pem }');
      let problems: { pointer: string; message: string }[] = [];
      try {
        Runtime.fromText(yaml, pem('front.yaml'), { logger: silentLogger() });
      } catch (err) {
        problems = [...(err as { errors: { pointer: string; message: string }[] }).errors];
      }
      expect(problems.map((p) => p.pointer).sort()).toEqual(['/services/0/acl/0/parents/0/tls/ca', '/services/0/acl/0/parents/1/tls', '/services/0/upstreamTls/cert']);
      expect(problems).toHaveLength(3);
      expect(problems.find((p) => p.pointer.endsWith('/0/tls/ca'))!.message).toMatch(/cannot read ca file .*nope\.pem: ENOENT/);
      expect(problems.find((p) => p.pointer.endsWith('/1/tls'))!.message).toContain('not "connect"');
    });
  });
});
