/**
 * Happy Eyeballs end to end: a name (served by the loopback DNS fixture) answers ::1 and
 * 127.0.0.1; the IPv6 port drops SYNs (syn-blackhole.py), the IPv4 one echoes. With `-64` the
 * proxy tries IPv6 first: raced, the IPv4 attempt wins after the attempt delay and the hanging
 * IPv6 attempt is cancelled; without the option the client waits for the connect timeout.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { dnsFixture, type DnsFixture } from '../net/dns-fixture';

/** Starts the SYN-dropping listener on [::1]:port; resolves once it is full. */
function synBlackhole(port: number): Promise<ChildProcess> {
  const proc = spawn('python3', [join(__dirname, 'fixtures', 'syn-blackhole.py'), '::1', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).once('line', (l) => (l.startsWith('ready') ? resolve(proc) : reject(new Error(l))));
    proc.once('exit', (code) => reject(new Error(`syn-blackhole exited ${code}`)));
  });
}

/** SYN-SENT sockets toward [::1]:port (ours and the fixture's own queued ones). */
function synSent(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'syn-sent', 'dst', `[::1]:${port}`]).toString();
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

const config = (dnsPort: number, port: number, extra: string, acl = ''): string => `
version: 1
resolver: { servers: ["127.0.0.1:${dnsPort}"] }
services:
  - name: m
    type: tcppm
    listen: 127.0.0.1:0
    target: ${acl === '' ? `dual.test:${port}` : '127.0.0.1:9'}
    accessLog: { to: none, format: json }
    timeouts: { connect: 1500ms }
    options: { family: "64"${extra} }
${acl}`;

/** Sends a line through the mapper and resolves with the echo and the time it took. */
async function echoTime(proxy: RunningProxy): Promise<{ text: string; ms: number }> {
  const t0 = Date.now();
  const c = await tcpConnect(proxy.ports['m']!);
  return new Promise((resolve) => {
    let text = '';
    const done = (): void => {
      c.destroy();
      resolve({ text, ms: Date.now() - t0 });
    };
    c.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.length >= 5) done();
    });
    c.once('close', done);
    c.write('hello');
  });
}

describe('Happy Eyeballs (RFC 8305)', () => {
  let echo: Fixture;
  let dns: DnsFixture;
  let hole: ChildProcess;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    echo = await echoServer('127.0.0.1');
    hole = await synBlackhole(echo.port);
    dns = await dnsFixture();
    dns.records.set('dual.test/A', ['127.0.0.1']);
    dns.records.set('dual.test/AAAA', ['::1']);
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    const exited = new Promise((r) => hole.once('exit', r));
    hole.stdin!.end();
    await exited;
    await Promise.all([echo.close(), dns.close()]);
  });

  it('connects over IPv4 after the attempt delay while IPv6 hangs, and cancels the IPv6 attempt', async () => {
    const before = synSent(echo.port);
    proxy = await startProxy(config(dns.port, echo.port, ', happyEyeballs: true, attemptDelay: 100ms'));
    const r = await echoTime(proxy);
    expect(r.text).toBe('hello');
    expect(r.ms).toBeGreaterThanOrEqual(90);
    expect(r.ms).toBeLessThan(1000);
    expect(synSent(echo.port)).toBe(before);
  });

  it('races the first parent hop too (a tcp parent given by name)', async () => {
    const acl = `    acl: [{ allow: {}, parents: [{ type: tcp, host: dual.test, port: ${echo.port} }] }]\n`;
    proxy = await startProxy(config(dns.port, echo.port, ', happyEyeballs: true, attemptDelay: 100ms', acl));
    const r = await echoTime(proxy);
    expect(r.text).toBe('hello');
    expect(r.ms).toBeLessThan(1000);
  });

  it('without it the IPv6 attempt runs into the connect timeout first', async () => {
    proxy = await startProxy(config(dns.port, echo.port, ''));
    const r = await echoTime(proxy);
    expect(r.text).toBe('hello');
    expect(r.ms).toBeGreaterThanOrEqual(1400);
  });
});
