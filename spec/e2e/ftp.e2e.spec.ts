/**
 * ftppr and ftp:// through the HTTP proxy, end to end: curl is the FTP (and HTTP) client,
 * pyftpdlib (Debian python3-pyftpdlib) the FTP server, serving a temp directory. Downloads and
 * uploads are compared byte for byte with the files on disk; passive and active data
 * connections both go through the proxy. Bad input gets FTP (or HTTP) replies and records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo } from 'node:net';
import { curl, tcpConnect, closed, readAll } from '../helpers/clients';
import { closedPort } from '../helpers/servers';
import { Lines } from '../helpers/lines';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const SCRIPT = join(__dirname, 'fixtures', 'ftp_server.py');

interface FtpServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts pyftpdlib on 127.0.0.1:0; ready once it printed its port and greeted a connection. */
async function ftpServer(root: string, anonymous = true): Promise<FtpServer> {
  const child: ChildProcess = spawn('/usr/bin/python3', [SCRIPT, root, ...(anonymous ? [] : ['--no-anonymous'])], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`ftp fixture exited ${code}: ${err}`)));
  });
  const probe = await tcpConnect(port);
  const lines = new Lines(probe);
  expect(await lines.next()).toMatch(/^220 /);
  probe.destroy();
  return {
    port,
    stop: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

const gwConfig = (extra = '    auth: [none]'): string => `
version: 1
services:
  - name: gw
    type: ftppr
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
${extra}
  - name: web
    type: proxy
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
${extra}
`;

/** URL user info `alice@127.0.0.1:PORT` (curl decodes %40 and %3A before sending USER). */
const gwUser = (port: number, user = 'alice'): string => encodeURIComponent(`${user}@127.0.0.1:${port}`);

describe('ftp', () => {
  let root = '';
  let srv: FtpServer | null = null;
  let proxy: RunningProxy | null = null;
  const payload = randomBytes(300_000);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ftp-e2e-'));
    writeFileSync(join(root, 'hello.bin'), payload);
    mkdirSync(join(root, 'sub dir'));
    writeFileSync(join(root, 'sub dir', 'a<b>.txt'), 'inner\n');
    srv = await ftpServer(root);
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });

  const url = (path: string): string => `ftp://${gwUser(srv!.port)}:secret@127.0.0.1:${proxy!.ports['gw']!}${path}`;

  describe('ftppr', () => {
    it.each([
      ['passive (EPSV)', []],
      ['passive (PASV)', ['--disable-epsv']],
      ['active (EPRT)', ['-P', '-']],
      ['active (PORT)', ['-P', '-', '--disable-eprt']],
    ])('curl downloads a file byte for byte, %s; records the transfer and the session', async (_mode, args) => {
      proxy = await startProxy(gwConfig());
      const out = join(root, `dl-${Date.now()}.bin`);
      const r = await curl([...args, '-o', out, url('/hello.bin')]);
      expect(r.stderr).toBe('');
      expect(readFileSync(out).equals(payload)).toBe(true);
      rmSync(out);
      const recs = await proxy.waitForRecords(2);
      expect(recs[0]).toMatchObject({ service: 'gw', serviceLogName: 'FTPPR', operation: 'FTP_GET', code: 0, text: 'RETR hello.bin', bytesIn: payload.length });
      expect(recs[1]).toMatchObject({ operation: 'CONNECT', code: 0, text: `alice@127.0.0.1:${srv!.port}`, requestedPort: srv!.port });
    });

    it.each([
      ['passive', []],
      ['active', ['-P', '-']],
    ])('curl uploads a file (%s); the server has it byte for byte; FTP_PUT record', async (_mode, args) => {
      proxy = await startProxy(gwConfig());
      const name = `up-${Date.now()}.bin`;
      const src = join(tmpdir(), name);
      const body = randomBytes(150_000);
      writeFileSync(src, body);
      try {
        const r = await curl([...args, '-T', src, url('/')]);
        expect(r.stderr).toBe('');
        expect(readFileSync(join(root, name)).equals(body)).toBe(true);
        const [rec] = await proxy.waitForRecords(1);
        expect(rec).toMatchObject({ operation: 'FTP_PUT', code: 0, text: `STOR ${name}`, bytesOut: body.length });
      } finally {
        rmSync(src, { force: true });
        rmSync(join(root, name), { force: true });
      }
    });

    it('curl lists a directory (LIST and NLST); FTP_LIST records', async () => {
      proxy = await startProxy(gwConfig());
      const list = await curl([url('/')]);
      expect(list.stderr).toBe('');
      expect(list.stdout).toMatch(/hello\.bin/);
      expect(list.stdout).toMatch(/sub dir/);
      const names = await curl(['--list-only', url('/sub%20dir/')]);
      expect(names.stdout.trim()).toBe('a<b>.txt');
      const recs = await proxy.waitForRecords(4);
      const transfers = recs.filter((r) => r.operation !== 'CONNECT');
      expect(transfers.map((r) => [r.operation, r.text.split(' ')[0], r.code])).toEqual([
        ['FTP_LIST', 'LIST', 0],
        ['FTP_LIST', 'NLST', 0],
      ]);
    });

    it('an ACL denying FTP_PUT refuses the upload with 550 (logged); downloads still work', async () => {
      proxy = await startProxy(gwConfig('    auth: [iponly]\n    acl: [{ deny: { operations: [FTP_PUT] } }, { allow: {} }]'));
      const name = `denied-${Date.now()}.bin`;
      const src = join(tmpdir(), name);
      writeFileSync(src, 'nope');
      try {
        const up = await curl(['-T', src, url('/')]);
        expect(up.code).toBe(25);
        expect(up.stderr).toMatch(/550/);
        expect(existsSync(join(root, name))).toBe(false);
        const down = await curl([url('/hello.bin')], 20000);
        expect(down.code).toBe(0);
        const recs = await proxy.waitForRecords(4);
        expect(recs.find((r) => r.operation === 'FTP_PUT')).toMatchObject({ errorCode: 'PRX_ERR_ACL_DENIED', code: 1, text: `STOR ${name}` });
        expect(recs.find((r) => r.operation === 'FTP_GET')).toMatchObject({ code: 0 });
      } finally {
        rmSync(src, { force: true });
      }
    });

    it('answers garbage before login with 530, USER without @host with 530 and a record (804)', async () => {
      proxy = await startProxy(gwConfig());
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      expect(await lines.next()).toBe('220 Ready');
      c.write('HELLO THERE\r\n');
      expect(await lines.next()).toMatch(/^530 /);
      c.write('PASS early\r\n');
      expect(await lines.next()).toMatch(/^503 /);
      c.write('USER alice\r\n');
      expect(await lines.next()).toMatch(/^530 .*PRX_ERR_FTP_NO_HOST/);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_FTP_NO_HOST', code: 804, operation: 'CONNECT' });
      // A line past 2 KiB is not buffered on: 421 and the connection closes.
      const flood = await tcpConnect(proxy.ports['gw']!);
      const floodLines = new Lines(flood);
      await floodLines.next();
      flood.write('A'.repeat(5000));
      expect(await floodLines.next()).toMatch(/^421 .*PRX_ERR_REQUEST_TOO_LARGE/);
      await closed(flood);
      expect((await proxy.waitForRecords(2))[1]).toMatchObject({ errorCode: 'PRX_ERR_REQUEST_TOO_LARGE' });
    });

    it('answers an unreachable server with 421 and logs the connect error', async () => {
      const port = await closedPort();
      proxy = await startProxy(gwConfig());
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      await lines.next();
      c.write(`USER alice@127.0.0.1:${port}\r\nPASS secret\r\n`);
      expect(await lines.next()).toBe('331 ok');
      expect(await lines.next()).toMatch(/^421 .*PRX_ERR_CONNECT_REFUSED/);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_CONNECT_REFUSED', code: 13, requestedPort: port });
    });

    it('relays a refused login as 530 (700), and garbage after login gets the server\'s 500', async () => {
      proxy = await startProxy(gwConfig());
      const bad = await tcpConnect(proxy.ports['gw']!);
      const badLines = new Lines(bad);
      await badLines.next();
      bad.write(`USER alice@127.0.0.1:${srv!.port}\r\nPASS wrong\r\n`);
      expect(await badLines.next()).toBe('331 ok');
      expect(await badLines.reply()).toMatch(/^530 .*PRX_ERR_FTP_LOGIN/);
      await closed(bad);
      expect((await proxy.waitForRecords(1))[0]).toMatchObject({ errorCode: 'PRX_ERR_FTP_LOGIN', code: 700 });

      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      await lines.next();
      c.write(`USER alice@127.0.0.1:${srv!.port}\r\nPASS secret\r\n`);
      expect(await lines.next()).toBe('331 ok');
      expect(await lines.reply()).toMatch(/^230 /);
      c.write('XYZZY plugh\r\n');
      expect(await lines.reply()).toMatch(/^500 /);
      c.write('RETR hello.bin\r\n');
      expect(await lines.next()).toMatch(/^425 /);
      c.write('PORT 1,2,3\r\n');
      expect(await lines.next()).toMatch(/^501 /);
      c.write('QUIT\r\n');
      expect(await lines.reply()).toMatch(/^221 /);
      await closed(c);
      const recs = await proxy.waitForRecords(2);
      expect(recs[1]).toMatchObject({ operation: 'CONNECT', code: 0, text: `alice@127.0.0.1:${srv!.port}` });
    });

    it('answers a server that is not FTP with 421 (820), logged, sockets closed', async () => {
      const notFtp = createServer((sock) => {
        sock.on('error', () => undefined);
        sock.end('hello, I am no FTP server\r\n');
      });
      await new Promise<void>((resolve) => notFtp.listen(0, '127.0.0.1', resolve));
      try {
        proxy = await startProxy(gwConfig());
        const c = await tcpConnect(proxy.ports['gw']!);
        const lines = new Lines(c);
        await lines.next();
        c.write(`USER alice@127.0.0.1:${(notFtp.address() as AddressInfo).port}\r\nPASS x\r\n`);
        expect(await lines.next()).toBe('331 ok');
        expect(await lines.next()).toMatch(/^421 .*PRX_ERR_FTP_UPSTREAM/);
        await closed(c);
        expect((await proxy.waitForRecords(1))[0]).toMatchObject({ errorCode: 'PRX_ERR_FTP_UPSTREAM', code: 820 });
      } finally {
        await new Promise((resolve) => notFtp.close(resolve));
      }
    });

    it('a client that never opens the EPSV connection gets 425 (857, logged) and the session goes on', async () => {
      proxy = await startProxy(gwConfig('    auth: [none]\n    timeouts: { handshake: 1s }'));
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      await lines.next();
      c.write(`USER alice@127.0.0.1:${srv!.port}\r\nPASS secret\r\n`);
      await lines.next();
      expect(await lines.reply()).toMatch(/^230 /);
      c.write('EPSV\r\n');
      expect(await lines.next()).toMatch(/^229 .*\(\|\|\|\d+\|\)/);
      c.write('RETR hello.bin\r\n');
      expect(await lines.next()).toMatch(/^1\d\d /);
      expect(await lines.reply()).toMatch(/^425 .*PRX_ERR_FTP_DATA_TIMEOUT/);
      c.write('NOOP\r\n');
      expect(await lines.reply()).toMatch(/^200 /);
      c.write('QUIT\r\n');
      expect(await lines.reply()).toMatch(/^221 /);
      await closed(c);
      const recs = await proxy.waitForRecords(2);
      expect(recs[0]).toMatchObject({ operation: 'FTP_GET', errorCode: 'PRX_ERR_FTP_DATA_TIMEOUT', code: 857 });
    });

    it('a client that drops the data connection mid-RETR stops the server\'s transfer; the session goes on', async () => {
      const big = join(root, 'big.bin');
      writeFileSync(big, randomBytes(32 * 1024 * 1024));
      try {
        proxy = await startProxy(gwConfig());
        const c = await tcpConnect(proxy.ports['gw']!);
        const lines = new Lines(c);
        await lines.next();
        c.write(`USER alice@127.0.0.1:${srv!.port}\r\nPASS secret\r\n`);
        await lines.next();
        expect(await lines.reply()).toMatch(/^230 /);
        c.write('TYPE I\r\nEPSV\r\n');
        expect(await lines.reply()).toMatch(/^200 /);
        const port = Number(/\(\|\|\|(\d+)\|\)/.exec((await lines.next()) ?? '')![1]);
        const data = await tcpConnect(port);
        c.write('RETR big.bin\r\n');
        expect(await lines.next()).toMatch(/^1\d\d /);
        await new Promise<void>((resolve) => data.once('data', () => resolve()));
        data.destroy();
        expect(await lines.reply()).toMatch(/^[24]\d\d /);
        c.write('NOOP\r\n');
        expect(await lines.reply()).toMatch(/^200 /);
        c.write('QUIT\r\n');
        await lines.reply();
        await closed(c);
        const [rec] = await proxy.waitForRecords(1);
        expect(rec!.operation).toBe('FTP_GET');
        expect(rec!.bytesIn).toBeLessThan(32 * 1024 * 1024);
      } finally {
        rmSync(big, { force: true });
      }
    });

    it('paces FTP data by the bandwidth rules (8 Mbit/s in) and keeps the bytes intact', async () => {
      const body = randomBytes(3 * 1024 * 1024);
      writeFileSync(join(root, 'paced.bin'), body);
      try {
        proxy = await startProxy(gwConfig().replace('version: 1\n', 'version: 1\nbandwidth:\n  - { direction: in, rate: 8Mbit/s }\n'));
        const out = join(root, `paced-${Date.now()}.bin`);
        const started = performance.now();
        const r = await curl(['-o', out, url('/paced.bin')]);
        const ms = performance.now() - started;
        expect(r.stderr).toBe('');
        expect(readFileSync(out).equals(body)).toBe(true);
        rmSync(out);
        // 3 MiB at 1 MB/s: well over 2 s even with a full bucket at the start.
        expect(ms).toBeGreaterThan(2000);
        const [rec] = await proxy.waitForRecords(1);
        expect(rec).toMatchObject({ operation: 'FTP_GET', code: 0, bytesIn: body.length });
      } finally {
        rmSync(join(root, 'paced.bin'), { force: true });
      }
    });

    it('takes OPEN host:port then USER user, and proxyuser:proxypass: for the auth chain', async () => {
      proxy = await startProxy(`
version: 1
users: { proxy: "CL:proxypw" }
services:
  - name: gw
    type: ftppr
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
    auth: [strong]
    acl: [{ allow: { users: [proxy] } }, { deny: {} }]
`);
      const gw = proxy.ports['gw']!;
      const c = await tcpConnect(gw);
      const lines = new Lines(c);
      await lines.next();
      c.write(`OPEN 127.0.0.1:${srv!.port}\r\n`);
      expect(await lines.next()).toBe('220 Ready');
      c.write('USER proxy:proxypw:alice\r\nPASS secret\r\n');
      expect(await lines.next()).toBe('331 ok');
      expect(await lines.reply()).toMatch(/^230 /);
      c.write('QUIT\r\n');
      expect(await lines.reply()).toMatch(/^221 /);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ user: 'proxy', code: 0, text: `alice@127.0.0.1:${srv!.port}` });
      const r = await curl(['-o', '/dev/null', `ftp://${encodeURIComponent(`proxy:wrong:alice@127.0.0.1:${srv!.port}`)}:secret@127.0.0.1:${gw}/hello.bin`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/530/);
      expect((await proxy.waitForRecords(2))[1]).toMatchObject({ user: 'proxy', errorCode: 'PRX_ERR_AUTH_BAD_PASSWORD' });
    });

    it('serves a client on [::1] (EPSV and EPRT over IPv6) from an IPv4 server', async () => {
      proxy = await startProxy(gwConfig().replace('    listen: 127.0.0.1:0\n    accessLog: { to: none, format: json }\n    auth: [none]\n  - name: web', '    listen: "[::1]:0"\n    accessLog: { to: none, format: json }\n    auth: [none]\n  - name: web'));
      const gw = proxy.ports['gw']!;
      for (const args of [[], ['-P', '-']]) {
        const r = await curl([...args, '-g', `ftp://${gwUser(srv!.port)}:secret@[::1]:${gw}/hello.bin`, '-o', '-']);
        expect(r.stderr).toBe('');
        expect(Buffer.from(r.stdout, 'latin1').length).toBeGreaterThan(0);
      }
      const recs = await proxy.waitForRecords(4);
      expect(recs.filter((x) => x.operation === 'FTP_GET').map((x) => [x.code, x.bytesIn])).toEqual([
        [0, payload.length],
        [0, payload.length],
      ]);
    });

    it('PASV data port: a connection from another address is dropped, the client\'s own is relayed', async () => {
      proxy = await startProxy(gwConfig());
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      await lines.next();
      c.write(`USER alice@127.0.0.1:${srv!.port}\r\nPASS secret\r\n`);
      await lines.next();
      expect(await lines.reply()).toMatch(/^230 /);
      c.write('TYPE I\r\n');
      expect(await lines.reply()).toMatch(/^200 /);
      c.write('PASV\r\n');
      const pasv = (await lines.next()) ?? '';
      const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv);
      expect(m?.slice(1, 5).join('.')).toBe('127.0.0.1');
      const port = Number(m![5]) * 256 + Number(m![6]);
      const stranger = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      stranger.on('error', () => undefined);
      await closed(stranger);
      const data = await tcpConnect(port);
      const got = readAll(data);
      c.write('RETR hello.bin\r\n');
      expect(await lines.next()).toMatch(/^1\d\d /);
      expect((await got).equals(payload)).toBe(true);
      expect(await lines.reply()).toMatch(/^226 /);
      c.write('QUIT\r\n');
      expect(await lines.reply()).toMatch(/^221 /);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ operation: 'FTP_GET', code: 0, bytesIn: payload.length });
    });
  });

  describe('ftp:// through the HTTP proxy', () => {
    const via = (): string[] => ['-x', `http://127.0.0.1:${proxy!.ports['web']!}`];

    it('GET returns the file byte for byte with Content-Length (anonymous), logged as FTP_GET', async () => {
      proxy = await startProxy(gwConfig());
      const out = join(root, `http-${Date.now()}.bin`);
      const r = await curl([...via(), '-D', '-', '-o', out, `ftp://127.0.0.1:${srv!.port}/hello.bin`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(r.stdout).toMatch(new RegExp(`Content-Length: ${payload.length}`, 'i'));
      expect(readFileSync(out).equals(payload)).toBe(true);
      rmSync(out);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ service: 'web', operation: 'FTP_GET', code: 0, requestedPort: srv!.port });
      expect(rec!.bytesIn).toBeGreaterThanOrEqual(payload.length);
      const head = await curl([...via(), '-I', `ftp://127.0.0.1:${srv!.port}/hello.bin`]);
      expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(head.stdout).toMatch(new RegExp(`Content-Length: ${payload.length}`, 'i'));
    });

    it('lists a directory as HTML with links; credentials from the URL, kept out of the log', async () => {
      proxy = await startProxy(gwConfig());
      const r = await curl([...via(), `ftp://alice:secret@127.0.0.1:${srv!.port}/sub%20dir/`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('<a href="/sub%20dir/a%3Cb%3E.txt">a&lt;b&gt;.txt</a>');
      expect(r.stdout).toContain('<a href="/">../</a>');
      const top = await curl([...via(), `ftp://127.0.0.1:${srv!.port}/`]);
      expect(top.stdout).toContain('<a href="/sub%20dir/">sub dir/</a>');
      expect(top.stdout).toContain('<a href="/hello.bin">hello.bin</a>');
      const recs = await proxy.waitForRecords(2);
      expect(recs[0]).toMatchObject({ operation: 'FTP_GET', code: 0 });
      expect(recs[0]!.text).not.toContain('secret');
      expect(recs[0]!.text).toContain(`ftp://127.0.0.1:${srv!.port}/sub%20dir/`);
    });

    it('PUT stores the request body (201, FTP_PUT); an ACL denying FTP_PUT answers 403', async () => {
      proxy = await startProxy(gwConfig());
      const name = `put-${Date.now()}.bin`;
      const src = join(tmpdir(), name);
      const body = randomBytes(70_000);
      writeFileSync(src, body);
      try {
        const r = await curl([...via(), '-D', '-', '-o', '/dev/null', '-T', src, `ftp://alice:secret@127.0.0.1:${srv!.port}/${name}`]);
        expect(r.stdout).toMatch(/^HTTP\/1\.1 201 /m);
        expect(readFileSync(join(root, name)).equals(body)).toBe(true);
        const [rec] = await proxy.waitForRecords(1);
        expect(rec).toMatchObject({ operation: 'FTP_PUT', code: 0 });
        await proxy.stop();
        proxy = await startProxy(gwConfig('    auth: [iponly]\n    acl: [{ deny: { operations: [FTP_PUT] } }, { allow: {} }]'));
        rmSync(join(root, name));
        const denied = await curl([...via(), '-D', '-', '-o', '/dev/null', '-T', src, `ftp://alice:secret@127.0.0.1:${srv!.port}/${name}`]);
        expect(denied.stdout).toMatch(/^HTTP\/1\.0 403 /m);
        expect(existsSync(join(root, name))).toBe(false);
        expect((await proxy.waitForRecords(1))[0]).toMatchObject({ operation: 'FTP_PUT', errorCode: 'PRX_ERR_ACL_DENIED' });
      } finally {
        rmSync(src, { force: true });
        rmSync(join(root, name), { force: true });
      }
    });

    it('maps FTP failures to HTTP: missing file 404, refused login 401 with WWW-Authenticate, unreachable 502', async () => {
      proxy = await startProxy(gwConfig());
      const missing = await curl([...via(), '-D', '-', '-o', '/dev/null', `ftp://127.0.0.1:${srv!.port}/nope.bin`]);
      expect(missing.stdout).toMatch(/^HTTP\/1\.0 404/);
      const refused = await curl([...via(), '-D', '-', '-o', '/dev/null', `ftp://alice:wrong@127.0.0.1:${srv!.port}/hello.bin`]);
      expect(refused.stdout).toMatch(/^HTTP\/1\.0 401/);
      expect(refused.stdout).toMatch(/WWW-Authenticate: Basic realm="FTP Server"/i);
      const port = await closedPort();
      const down = await curl([...via(), '-D', '-', '-o', '/dev/null', `ftp://127.0.0.1:${port}/x`]);
      expect(down.stdout).toMatch(/^HTTP\/1\.0 502/);
      const recs = await proxy.waitForRecords(3);
      expect(recs.map((r) => [r.operation, r.errorCode, r.code])).toEqual([
        ['FTP_GET', 'PRX_ERR_FTP_NOT_FOUND', 780],
        ['FTP_GET', 'PRX_ERR_FTP_LOGIN', 700],
        ['FTP_GET', 'PRX_ERR_CONNECT_REFUSED', 13],
      ]);
    });
  });
});
