/**
 * HTTP proxy end to end: curl through `type: proxy` to real upstreams on loopback (GET, POST,
 * chunked, keep-alive, auth, error pages) with access records checked.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpServer, defaultHandler, blackHole, closedPort, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import type { ProxyError } from '../../core/errors';

describe('proxy service (HTTP)', () => {
  let web: Fixture;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    web = await httpServer((req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1-');
        setImmediate(() => res.end('part2'));
        return;
      }
      if (req.url === '/headers') {
        res.writeHead(200, { 'content-type': 'application/json', 'proxy-secret': 'x' });
        res.end(JSON.stringify(req.headers));
        return;
      }
      defaultHandler(req, res);
    });
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await web.close();
  });

  const config = (serviceExtra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
${serviceExtra}`;
  const url = (path: string): string => `http://127.0.0.1:${web.port}${path}`;
  const via = (): string[] => ['-x', `http://127.0.0.1:${proxy!.ports['http']!}`];

  it('GETs through the proxy and logs HTTP_GET', async () => {
    proxy = await startProxy(config());
    const r = await curl([...via(), url('/hello')]);
    expect(r.stdout).toBe('hello world');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ serviceLogName: 'PROXY', operation: 'HTTP_GET', code: 0, remotePort: web.port, requestedPort: web.port });
    expect(rec!.text).toBe(`GET ${url('/hello')} HTTP/1.1`);
    expect(rec!.bytesIn).toBeGreaterThan(11);
    expect(rec!.bytesOut).toBeGreaterThan(20);
  });

  it('POSTs a body (Content-Length and Expect: 100-continue) and streams a chunked response', async () => {
    proxy = await startProxy(config());
    const body = 'x'.repeat(200_000);
    const file = join(mkdtempSync(join(tmpdir(), 'rx3-post-')), 'body');
    writeFileSync(file, body);
    const r = await curl([...via(), '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, url('/post')]);
    expect(r.stdout.length).toBe(body.length);
    const c = await curl([...via(), url('/chunked')]);
    expect(c.stdout).toBe('part1-part2');
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((x) => x.operation)).toEqual(['HTTP_POST', 'HTTP_GET']);
    expect(recs[0]!.bytesOut).toBeGreaterThan(body.length);
  });

  it('serves several requests on one keep-alive connection and reuses the upstream connection', async () => {
    proxy = await startProxy(config());
    const fresh = await httpServer();
    const u = (p: string): string => `http://127.0.0.1:${fresh.port}${p}`;
    const r = await curl([...via(), u('/hello'), u('/bytes/5000'), u('/hello')]);
    expect(r.stdout).toBe(`hello world${'a'.repeat(5000)}hello world`);
    const recs = await proxy.waitForRecords(3);
    expect(recs.map((x) => x.code)).toEqual([0, 0, 0]);
    // One client connection (same client port), one upstream connection kept in the pool.
    expect(new Set(recs.map((x) => x.clientPort)).size).toBe(1);
    expect(fresh.sockets.size).toBe(1);
    await fresh.close();
  });

  it('rewrites headers: Forwarded by default, no Proxy-* or hop-by-hop headers upstream or back', async () => {
    proxy = await startProxy(config());
    const r = await curl([...via(), '-i', '-H', 'Proxy-Foo: 1', '-H', 'Connection: X-Hop', '-H', 'X-Hop: 1', url('/headers')]);
    const [head, json] = r.stdout.split('\r\n\r\n');
    const seen = JSON.parse(json!) as Record<string, string>;
    expect(seen['forwarded']).toMatch(/^for="127\.0\.0\.1:\d+";by=".+:\d+"$/);
    expect(seen['proxy-foo']).toBeUndefined();
    expect(seen['x-hop']).toBeUndefined();
    expect(head!.toLowerCase()).not.toContain('proxy-secret');
  });

  it('adds Via + the client address with xForwardedFor: client, nothing with anonymous', async () => {
    proxy = await startProxy(config('    options: { xForwardedFor: client }\n'));
    const a = JSON.parse((await curl([...via(), url('/headers')])).stdout) as Record<string, string>;
    expect(a['x-forwarded-for']).toBe('127.0.0.1');
    expect(a['via']).toMatch(/^1\.1 .+ \(rx3proxy\)$/);
    await proxy.stop();
    proxy = await startProxy(config('    options: { anonymous: true }\n'));
    const b = JSON.parse((await curl([...via(), url('/headers')])).stdout) as Record<string, string>;
    expect(b['x-forwarded-for'] ?? b['forwarded'] ?? b['via']).toBeUndefined();
  });

  it('asks for credentials with 407 and accepts -U user:pass', async () => {
    proxy = await startProxy(`
version: 1
accessLog: { to: none, format: json }
users: { user: "CL:pass" }
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    auth: [strong]
    acl: [{ allow: {} }]
`);
    const denied = await curl([...via(), '-i', url('/hello')]);
    expect(denied.stdout).toMatch(/^HTTP\/1\.0 407 /);
    expect(denied.stdout).toContain('Proxy-Authenticate: Basic realm="proxy"');
    expect(denied.stdout).toContain('PRX_ERR_AUTH_REQUIRED (4)');
    const ok = await curl([...via(), '-U', 'user:pass', url('/hello')]);
    expect(ok.stdout).toBe('hello world');
    const recs = await proxy.waitForRecords(2);
    expect(recs[0]).toMatchObject({ code: 4, errorCode: 'PRX_ERR_AUTH_REQUIRED' });
    expect(recs[1]).toMatchObject({ code: 0, user: 'user' });
  });

  it('asks for a user name with userAuth: required (-u2) even when the ACL would allow', async () => {
    proxy = await startProxy(config('    options: { userAuth: required }\n'));
    const r = await curl([...via(), '-i', url('/hello')]);
    expect(r.stdout).toMatch(/^HTTP\/1\.0 407 /);
    const ok = await curl([...via(), '-U', 'any:thing', url('/hello')]);
    expect(ok.stdout).toBe('hello world');
  });

  it('keeps serving while 10,000 idle clients hold connections', async () => {
    const N = 10000;
    proxy = await startProxy(config('    maxconn: 20000\n    timeouts: { handshake: 2m }\n'));
    // The idle clients live in a child process: N client plus N accepted sockets in one process
    // would exceed the file-descriptor limit.
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'idle-clients.js'), String(proxy.ports['http']!), String(N)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    const next = (): Promise<string> => new Promise((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (c) => reject(new Error(`idle-clients exited with ${String(c)}`)));
    });
    try {
      expect(await next()).toBe(`ready ${N}`);
      // A new client is still served; it queued behind the idle ones (accept order is FIFO),
      // so by its answer every idle client holds a session of its own.
      const r = await curl([...via(), url('/hello')]);
      expect(r.stdout).toBe('hello world');
      expect(proxy.rt.liveConnections()).toBeGreaterThanOrEqual(N);
      const closedNote = next();
      child.stdin.end();
      // No idle client was cut while waiting (the handshake timeout is longer than the test).
      expect(await closedNote).toBe('closed-by-server 0');
    } finally {
      child.kill();
    }
    await proxy.rt.whenIdle();
    expect(proxy.rt.liveConnections()).toBe(0);
  }, 120000);

  it('refuses a name or a transparent Host that resolves to the proxy itself (519), instead of looping', async () => {
    proxy = await startProxy(`
version: 1
accessLog: { to: none, format: json }
resolver: { hosts: { self.test: 127.0.0.1 } }
services:
  - { name: http, type: proxy, listen: 127.0.0.1:0 }
  - { name: socks, type: socks, listen: 127.0.0.1:0 }
`);
    const port = proxy.ports['http']!;
    // Origin form (transparent use): the target comes from Host, a name for the proxy's own port.
    const c = await tcpConnect(port);
    const got = readAll(c);
    c.end(`GET / HTTP/1.1\r\nHost: self.test:${port}\r\nConnection: close\r\n\r\n`);
    expect((await got).toString()).toMatch(/^HTTP\/1\.[01] 503 [\s\S]*PRX_ERR_REQUEST_RECURSION/);
    const viaSocks = await curl(['--socks5-hostname', `127.0.0.1:${proxy.ports['socks']!}`, `http://self.test:${proxy.ports['socks']!}/`]);
    expect(viaSocks.code).not.toBe(0);
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => r.errorCode).sort()).toEqual(['PRX_ERR_REQUEST_RECURSION', 'PRX_ERR_REQUEST_RECURSION']);
    // One connection each: nothing looped through the proxy.
    expect(recs).toHaveLength(2);
  });

  it('answers garbage with 400 and logs it', async () => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['http']!);
    const got = readAll(c);
    c.write('THIS IS NOT HTTP\r\n\r\n');
    const text = (await got).toString();
    expect(text).toMatch(/^HTTP\/1\.0 400 /);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 513, errorCode: 'PRX_ERR_HTTP_BAD_REQUEST' });
  });

  it('answers 431 when the request head is larger than maxHeaderSize', async () => {
    proxy = await startProxy(config('    options: { maxHeaderSize: 2KB }\n'));
    const r = await curl([...via(), '-i', '-H', `X-Big: ${'b'.repeat(4000)}`, url('/hello')]);
    expect(r.stdout).toMatch(/^HTTP\/1\.0 431 /);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec!.errorCode).toBe('PRX_ERR_REQUEST_TOO_LARGE');
  });

  it('answers 502 for a closed port and 504 for a black-hole upstream', async () => {
    const port = await closedPort();
    const hole = await blackHole();
    proxy = await startProxy(config('    options: { responseTimeout: 300ms }\n'));
    const a = await curl([...via(), '-i', `http://127.0.0.1:${port}/`]);
    expect(a.stdout).toMatch(/^HTTP\/1\.0 502 /);
    expect(a.stdout).toContain('PRX_ERR_CONNECT_REFUSED (13)');
    const b = await curl([...via(), '-i', `http://127.0.0.1:${hole.port}/`]);
    expect(b.stdout).toMatch(/^HTTP\/1\.0 504 /);
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((x) => x.errorCode)).toEqual(['PRX_ERR_CONNECT_REFUSED', 'PRX_ERR_HTTP_UPSTREAM_TIMEOUT']);
    await hole.close();
  });

  it('sends the absolute-URI request to an HTTP parent with its credentials', async () => {
    const parent = await startProxy(`
version: 1
accessLog: { to: none, format: json }
users: { pu: "CL:pp" }
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    auth: [strong]
    acl: [{ allow: {} }]
`);
    try {
      proxy = await startProxy(config(`    acl: [{ allow: {}, parents: [{ type: http, host: 127.0.0.1, port: ${parent.ports['http']!}, user: pu, password: pp }] }]\n`));
      const r = await curl([...via(), url('/hello')]);
      expect(r.stdout).toBe('hello world');
      const [rec] = await parent.waitForRecords(1);
      expect(rec).toMatchObject({ user: 'pu', operation: 'HTTP_GET', code: 0, text: `GET ${url('/hello')} HTTP/1.1` });
      const [own] = await proxy.waitForRecords(1);
      expect(own).toMatchObject({ code: 0, remotePort: parent.ports['http']!, hops: 1 });
    } finally {
      await parent.stop();
    }
  });

  it('answers pipelined requests in order, HEAD without a body, and refuses requests to itself (519)', async () => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['http']!);
    const got = readAll(c);
    const h = `Host: 127.0.0.1:${web.port}\r\n`;
    c.write(`GET ${url('/bytes/3')} HTTP/1.1\r\n${h}\r\nHEAD ${url('/hello')} HTTP/1.1\r\n${h}\r\nGET ${url('/hello')} HTTP/1.1\r\n${h}Connection: close\r\n\r\n`);
    const text = (await got).toString();
    const statuses = text.match(/HTTP\/1\.1 \d+/g);
    expect(statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(text.indexOf('aaa')).toBeLessThan(text.indexOf('hello world'));
    expect(text.split('hello world').length).toBe(2);
    const recs = await proxy.waitForRecords(3);
    expect(recs.map((r) => r.operation)).toEqual(['HTTP_GET', 'HTTP_HEAD', 'HTTP_GET']);
    const self = await curl([...via(), '-i', `http://127.0.0.1:${proxy.ports['http']!}/`]);
    expect(self.stdout).toMatch(/^HTTP\/1\.0 503 /);
    expect((await proxy.waitForRecords(4))[3]!.errorCode).toBe('PRX_ERR_REQUEST_RECURSION');
  });

  it('uploads a chunked request body', async () => {
    proxy = await startProxy(config());
    const r = await curl([...via(), '-H', 'Transfer-Encoding: chunked', '--data-binary', 'chunky body', url('/post')]);
    expect(r.stdout).toBe('chunky body');
  });

  it('serves origin-form (transparent) requests from the Host header', async () => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['http']!);
    const got = readAll(c);
    c.write(`GET /hello HTTP/1.0\r\nHost: 127.0.0.1:${web.port}\r\n\r\n`);
    const text = (await got).toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.endsWith('hello world')).toBe(true);
  });
});

describe('embedded default config', () => {
  it('serves HTTP on its proxy service', async () => {
    const web = await httpServer();
    const text = readFileSync(join(__dirname, '../../config/default.yaml'), 'utf8')
      .replace(/127\.0\.0\.1:(3128|1080)/g, '127.0.0.1:0')
      .replace('to: stdout', 'to: none');
    const proxy = await startProxy(text, 'default.yaml');
    try {
      const r = await curl(['-x', `http://127.0.0.1:${proxy.ports['proxy']!}`, `http://127.0.0.1:${web.port}/hello`]);
      expect(r.stdout).toBe('hello world');
    } finally {
      await proxy.stop();
      await web.close();
    }
  });
});

describe('proxy options schema', () => {
  it('rejects bad option values at load time', async () => {
    const bad = (opts: string): Promise<string> =>
      startProxy(`
version: 1
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
    options: ${opts}
`).then(
        async (p) => {
          await p.stop();
          return 'accepted';
        },
        (err: ProxyError) => err.errors.map((e) => e.pointer).join(' '),
      );
    expect(await bad('{ responseTimeout: soon }')).toContain('/options/responseTimeout');
    expect(await bad('{ xForwardedFor: yes }')).toContain('/options/xForwardedFor');
    expect(await bad('{ maxHeaderSize: 8KB, anonymous: true }')).toBe('accepted');
  });
});
