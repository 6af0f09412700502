/**
 * udppm and dnspr end to end over loopback UDP: node dgram clients, a UDP echo upstream, a
 * tiny dns-packet server (TXT for everything, a fixed A), ncat -u through udppm, dig and kdig
 * against dnspr, and access records per association/query.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { execFile, spawn } from 'node:child_process';
import * as dnsPacket from 'dns-packet';
import { startProxy, type RunningProxy } from '../helpers/proxy';

interface UdpFixture {
  readonly port: number;
  readonly socket: DgramSocket;
  close(): Promise<void>;
}

async function udpServer(onMessage: (msg: Buffer, reply: (b: Buffer) => void) => void): Promise<UdpFixture> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => onMessage(msg, (b) => socket.send(b, rinfo.port, rinfo.address)));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { port: socket.address().port, socket, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

/** A client socket that collects replies; `next()` resolves with the next datagram. */
async function udpClient(): Promise<{ send(b: Buffer | string, port: number): void; next(): Promise<Buffer>; close(): void }> {
  const s = createSocket('udp4');
  const queue: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  s.on('message', (m) => {
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else queue.push(m);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return {
    send: (b, port) => s.send(b, port, '127.0.0.1'),
    next: () => new Promise((resolve) => (queue.length > 0 ? resolve(queue.shift()!) : waiters.push(resolve))),
    close: () => s.close(),
  };
}

describe('udppm service', () => {
  let echo: UdpFixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    echo = await udpServer((m, reply) => reply(Buffer.concat([Buffer.from('echo:'), m])));
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
    }
    proxy = null;
  });
  afterAll(() => echo.close());

  const config = (options = '', acl = ''): string => `
version: 1
services:
  - name: umap
    type: udppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo.port}
    auth: [iponly]
    timeouts: { idle: 300ms }
    options: { ${options} }
    accessLog: { to: none, format: json }
${acl}`;

  it('relays datagrams both ways and logs one record per association after idle', async () => {
    proxy = await startProxy(config());
    const c = await udpClient();
    c.send('one', proxy.ports['umap']!);
    expect((await c.next()).toString()).toBe('echo:one');
    c.send('two', proxy.ports['umap']!);
    expect((await c.next()).toString()).toBe('echo:two');
    const [rec] = await proxy.waitForRecords(1);
    c.close();
    expect(rec).toMatchObject({ service: 'umap', serviceLogName: 'UDPPM', operation: 'UDPASSOC', code: 0, bytesOut: 6, bytesIn: 16, remotePort: echo.port });
    expect(proxy.records).toHaveLength(1);
  });

  it('singlePacket: one request, one reply, one record each', async () => {
    proxy = await startProxy(config('singlePacket: true'));
    const c = await udpClient();
    c.send('a', proxy.ports['umap']!);
    expect((await c.next()).toString()).toBe('echo:a');
    await proxy.waitForRecords(1);
    c.send('b', proxy.ports['umap']!);
    expect((await c.next()).toString()).toBe('echo:b');
    const recs = await proxy.waitForRecords(2);
    c.close();
    expect(recs.map((r) => [r.bytesOut, r.bytesIn])).toEqual([
      [1, 6],
      [1, 6],
    ]);
  });

  it('drops and logs an association the ACL denies', async () => {
    proxy = await startProxy(config('', '    acl: [{ deny: { operations: [UDPASSOC] } }, { allow: {} }]'));
    const c = await udpClient();
    c.send('x', proxy.ports['umap']!);
    const [rec] = await proxy.waitForRecords(1);
    c.close();
    expect(rec).toMatchObject({ operation: 'UDPASSOC', bytesOut: 0 });
    expect(rec!.code).not.toBe(0);
  });

  it('serves ncat -u', async () => {
    proxy = await startProxy(config());
    // ncat quits on stdin EOF before a UDP reply can come: keep stdin open, stop it on the reply.
    const child = spawn('ncat', ['-u', '127.0.0.1', String(proxy.ports['umap']!)]);
    const out = await new Promise<string>((resolve) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
      child.stdin.write('hi ncat\n');
    });
    child.kill();
    expect(out).toBe('echo:hi ncat\n');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'UDPASSOC', bytesOut: 8 });
  });
});

const UPSTREAM_A = '192.0.2.99';

/** Runs dig or kdig against 127.0.0.1:port; never rejects (stdout is the result). */
function digLike(tool: 'dig' | 'kdig', port: number, args: readonly string[]): Promise<string> {
  const limits = tool === 'dig' ? ['+tries=1', '+time=3'] : ['+retry=0', '+time=3'];
  return new Promise((resolve) => {
    execFile(tool, ['@127.0.0.1', '-p', String(port), ...limits, ...args], { encoding: 'utf8' }, (_err, stdout) => resolve(stdout));
  });
}

describe('dnspr service', () => {
  let txt: UdpFixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    txt = await udpServer((m, reply) => {
      const q = dnsPacket.decode(m);
      const question = q.questions![0]!;
      // An A answer only the fixture gives: `simple` mode must get it instead of resolver.hosts.
      const answer: dnsPacket.Answer = question.type === 'A' ? { type: 'A', name: question.name, ttl: 30, data: UPSTREAM_A } : { type: 'TXT', name: question.name, ttl: 30, data: 'forwarded text' };
      reply(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions ?? [], answers: [answer] }));
    });
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
    }
    proxy = null;
  });
  afterAll(() => txt.close());

  const config = (acl = '', options = ''): string => `
version: 1
resolver: { servers: ['127.0.0.1:${txt.port}'], hosts: { fixed.test: 10.1.2.3, six.test: 'fd00::5' }, timeout: 2s }
services:
  - name: dns
    type: dnspr
    listen: 127.0.0.1:0
    auth: [iponly]
    options: { ${options} }
    accessLog: { to: none, format: json }
${acl}`;

  const query = (id: number, type: dnsPacket.RecordType, name: string): Buffer =>
    dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

  it('answers A for a resolver.hosts name and logs type/name/answer', async () => {
    proxy = await startProxy(config());
    const c = await udpClient();
    c.send(query(7, 'A', 'fixed.test'), proxy.ports['dns']!);
    const reply = dnsPacket.decode(await c.next());
    c.close();
    expect(reply).toMatchObject({ id: 7, type: 'response', rcode: 'NOERROR' });
    expect(reply.answers).toEqual([expect.objectContaining({ type: 'A', name: 'fixed.test', data: '10.1.2.3' })]);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ serviceLogName: 'DNSPR', operation: 'DNSRESOLVE', host: 'fixed.test', code: 0, text: 'A/fixed.test/10.1.2.3' });
  });

  it('forwards TXT to the first resolver server', async () => {
    proxy = await startProxy(config());
    const c = await udpClient();
    c.send(query(8, 'TXT', 'txt.test'), proxy.ports['dns']!);
    const reply = dnsPacket.decode(await c.next());
    c.close();
    expect(reply.id).toBe(8);
    expect((reply.answers![0] as dnsPacket.TxtAnswer).data).toEqual([Buffer.from('forwarded text')]);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'DNSRESOLVE', host: 'txt.test', text: 'TXT/txt.test/forwarded text', remotePort: txt.port });
  });

  it('answers FORMERR to a truncated packet and logs PRX_ERR_DNS_PACKET', async () => {
    proxy = await startProxy(config());
    const c = await udpClient();
    c.send(query(9, 'A', 'fixed.test').subarray(0, 20), proxy.ports['dns']!);
    const reply = dnsPacket.decode(await c.next());
    c.close();
    expect(reply).toMatchObject({ id: 9, rcode: 'FORMERR' });
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_DNS_PACKET', operation: 'DNSRESOLVE' });
  });

  it('answers REFUSED when the ACL denies the name', async () => {
    proxy = await startProxy(config('    acl: [{ deny: { targets: [blocked.test] } }, { allow: {} }]'));
    const c = await udpClient();
    c.send(query(10, 'A', 'blocked.test'), proxy.ports['dns']!);
    expect(dnsPacket.decode(await c.next())).toMatchObject({ id: 10, rcode: 'REFUSED' });
    c.send(query(11, 'A', 'fixed.test'), proxy.ports['dns']!);
    expect(dnsPacket.decode(await c.next())).toMatchObject({ id: 11, rcode: 'NOERROR' });
    c.close();
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => [r.host, r.code === 0])).toEqual([
      ['blocked.test', false],
      ['fixed.test', true],
    ]);
  });

  it('dig gets A and kdig gets AAAA from resolver.hosts; both log type/name/answer', async () => {
    proxy = await startProxy(config());
    const port = proxy.ports['dns']!;
    expect((await digLike('dig', port, ['+short', 'A', 'fixed.test'])).trim()).toBe('10.1.2.3');
    expect((await digLike('kdig', port, ['+short', 'AAAA', 'six.test'])).trim()).toBe('fd00::5');
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => r.text)).toEqual(['A/fixed.test/10.1.2.3', 'AAAA/six.test/fd00::5']);
  });

  it('dig and kdig get other types forwarded to the name server fixture', async () => {
    proxy = await startProxy(config());
    const port = proxy.ports['dns']!;
    expect((await digLike('dig', port, ['+short', 'TXT', 'txt.test'])).trim()).toBe('"forwarded text"');
    expect((await digLike('kdig', port, ['+short', 'TXT', 'other.test'])).trim()).toBe('"forwarded text"');
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => [r.host, r.remotePort])).toEqual([
      ['txt.test', txt.port],
      ['other.test', txt.port],
    ]);
  });

  it('simple (-s) forwards A too: the fixture answers, not resolver.hosts', async () => {
    proxy = await startProxy(config('', 'simple: true'));
    expect((await digLike('dig', proxy.ports['dns']!, ['+short', 'A', 'fixed.test'])).trim()).toBe(UPSTREAM_A);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ host: 'fixed.test', remotePort: txt.port, text: `A/fixed.test/${UPSTREAM_A}` });
  });

  it('dig sees REFUSED for a name the DNSRESOLVE ACL denies', async () => {
    proxy = await startProxy(config('    acl: [{ deny: { operations: [DNSRESOLVE], targets: [blocked.test] } }, { allow: {} }]'));
    const out = await digLike('dig', proxy.ports['dns']!, ['A', 'blocked.test']);
    expect(out).toContain('status: REFUSED');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'DNSRESOLVE', host: 'blocked.test' });
    expect(rec!.code).not.toBe(0);
  });

  it.each([
    ['shorter than a header', Buffer.from('\x01\x02junk', 'latin1')],
    ['a response', dnsPacket.encode({ type: 'response', id: 77, flags: 0, questions: [{ type: 'A', name: 'x.test', class: 'IN' }] })],
  ])('drops and logs a packet %s (no reply: the next reply is the next query\'s)', async (_what, bad) => {
    proxy = await startProxy(config());
    const c = await udpClient();
    c.send(bad, proxy.ports['dns']!);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_DNS_PACKET', operation: 'DNSRESOLVE' });
    c.send(query(12, 'A', 'fixed.test'), proxy.ports['dns']!);
    expect(dnsPacket.decode(await c.next())).toMatchObject({ id: 12, rcode: 'NOERROR' });
    c.close();
  });
});
