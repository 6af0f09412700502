/**
 * HTTP proxy tunnels and heavy traffic: CONNECT to an HTTPS server (curl -p -k), a WebSocket
 * upgrade through the proxy, a slow client cut at the handshake timeout, a 1 GiB download.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { httpServer, closedPort, sendBytes } from '../helpers/servers';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const config = (extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
${extra}`;

/** Reads from a socket until `pattern` has been seen (no sleeps: resolves on data). */
function readUntil(s: Socket, pattern: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString('latin1');
      if (text.includes(pattern)) {
        s.removeListener('data', onData);
        resolve(text);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed before ${JSON.stringify(pattern)}; got ${JSON.stringify(text)}`)));
  });
}

describe('proxy service (tunnels and bulk)', () => {
  let proxy: RunningProxy | null = null;
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });

  it('tunnels CONNECT to an HTTPS server (curl -p -k)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('secure hello'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const port = (tls.address() as AddressInfo).port;
    try {
      proxy = await startProxy(config());
      const r = await curl(['-p', '-k', '-x', `http://127.0.0.1:${proxy.ports['http']!}`, `https://127.0.0.1:${port}/`]);
      expect(r.stdout).toBe('secure hello');
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ operation: 'HTTP_CONNECT', remotePort: port, text: `CONNECT 127.0.0.1:${port} HTTP/1.1` });
      // curl may close with a reset when TLS records (session tickets) arrive after it stopped
      // reading; the body above arrived whole either way.
      expect(['PRX_ERR_CLIENT_RESET', null]).toContain(rec!.errorCode);
      expect(rec!.bytesIn).toBeGreaterThan(500);
    } finally {
      tls.closeAllConnections();
      await new Promise((r) => tls.close(r));
    }
  });

  it('answers a CONNECT to a closed port with 502', async () => {
    const port = await closedPort();
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['http']!);
    const got = readUntil(c, '\r\n\r\n');
    c.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(await got).toMatch(/^HTTP\/1\.0 502 /);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'HTTP_CONNECT', errorCode: 'PRX_ERR_CONNECT_REFUSED' });
    c.destroy();
  });

  it('passes a WebSocket upgrade through as a tunnel', async () => {
    let seenUpgrade: Record<string, unknown> = {};
    const up = createServer((_req, res) => res.end('no upgrade'));
    up.on('upgrade', (req, socket: Socket, head: Buffer) => {
      seenUpgrade = { url: req.url, upgrade: req.headers.upgrade, connection: req.headers.connection };
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const port = (up.address() as AddressInfo).port;
    try {
      proxy = await startProxy(config());
      const c = await tcpConnect(proxy.ports['http']!);
      const got = readUntil(c, 'ping-pong');
      c.write(`GET http://127.0.0.1:${port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\nping-`);
      c.write('pong');
      const text = await got;
      expect(text).toMatch(/^HTTP\/1\.1 101 /);
      expect(seenUpgrade).toEqual({ url: '/ws', upgrade: 'websocket', connection: 'Upgrade' });
      c.end();
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ operation: 'HTTP_GET', code: 0, remotePort: port });
    } finally {
      up.closeAllConnections();
      await new Promise((r) => up.close(r));
    }
  });

  it('cuts a client that sends its headers too slowly at the handshake timeout', async () => {
    proxy = await startProxy(config('    timeouts: { handshake: 500ms }\n'));
    const c = await tcpConnect(proxy.ports['http']!);
    const request = 'GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n';
    let i = 0;
    const started = Date.now();
    // One byte every 100 ms: the whole head would take ~4.5 s; the limit is 0.5 s.
    const timer = setInterval(() => {
      if (i < request.length && !c.destroyed) c.write(request[i++]!);
    }, 100);
    await closed(c);
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(i).toBeLessThan(request.length);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec!.errorCode).toBe('PRX_ERR_REQUEST_TIMEOUT');
  });

  it('re-arms the handshake timeout between keep-alive requests, never during one', async () => {
    // The first answer comes after three handshake windows: a request in flight is never cut.
    let answered = 0;
    const up = await httpServer((req, res) => {
      const delay = req.url === '/slow' ? 900 : 0;
      setTimeout(() => {
        answered++;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
        res.end('ok');
      }, delay);
    });
    try {
      proxy = await startProxy(config('    timeouts: { handshake: 300ms }\n'));
      const get = (path: string): string => `GET http://127.0.0.1:${up.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\n`;

      // 1: slow answer, then a second request inside the window, then silence: closed quietly.
      const a = await tcpConnect(proxy.ports['http']!);
      a.write(get('/slow'));
      const first = await readUntil(a, '\r\n\r\nok');
      expect(first).toMatch(/^HTTP\/1\.1 200/);
      a.write(get('/fast'));
      const second = await readUntil(a, '\r\n\r\nok');
      expect(second).toMatch(/^HTTP\/1\.1 200/);
      let after = '';
      a.on('data', (c: Buffer) => (after += c.toString('latin1')));
      const idleFrom = Date.now();
      await closed(a);
      expect(Date.now() - idleFrom).toBeGreaterThanOrEqual(200);
      expect(after).toBe('');

      // 2: a keep-alive connection that starts a second request and stalls gets its 408.
      const b = await tcpConnect(proxy.ports['http']!);
      b.write(get('/fast'));
      await readUntil(b, '\r\n\r\nok');
      b.write('GET http://127.0.0.1:1/ HTTP/1.1\r\nHo');
      const answer = await readUntil(b, '</html>');
      expect(answer).toMatch(/^HTTP\/1\.0 408 /);
      await closed(b);
      const recs = await proxy.waitForRecords(4);
      expect(recs.map((r) => r.code)).toEqual([0, 0, 0, expect.any(Number)]);
      expect(recs[3]!.errorCode).toBe('PRX_ERR_REQUEST_TIMEOUT');
      expect(answered).toBe(3);
    } finally {
      await up.close();
    }
  }, 10000);

  it('streams a 1 GiB download', async () => {
    const GiB = 1024 ** 3;
    const chunk = Buffer.alloc(256 * 1024, 0x62);
    const big = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': GiB });
      sendBytes(res, GiB, chunk);
    });
    try {
      proxy = await startProxy(config());
      const r = await curl(['-x', `http://127.0.0.1:${proxy.ports['http']!}`, '-o', '/dev/null', '-w', '%{size_download}', `http://127.0.0.1:${big.port}/big`], 60000);
      expect(r.stderr).toBe('');
      expect(Number(r.stdout)).toBe(GiB);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec!.code).toBe(0);
      expect(rec!.bytesIn).toBeGreaterThan(GiB);
    } finally {
      await big.close();
    }
  }, 60000);
});
