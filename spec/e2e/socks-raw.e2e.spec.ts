/**
 * socks with raw sockets, written against RFC 1928: BIND (two replies, one peer), bad input
 * (truncated greetings, unknown versions, no methods, empty domain, unknown command and
 * address type, silence), a UDP datagram from a stranger, and the `auto` service.
 */
import type { Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { echoServer, httpServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { protocolReaders } from '../../operators/readRequest/protocols';
import { Session, emptyRequest } from '../../core/session';
import { proxyError } from '../../core/errors';
import { of } from 'rxjs';

/** Reads exactly n bytes (event driven, no sleeps). */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        s.removeListener('data', onData);
        s.pause();
        const extra = buf.subarray(n);
        if (extra.length > 0) s.unshift(extra);
        resolve(buf.subarray(0, n));
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed after ${buf.length} of ${n} bytes`)));
    s.resume();
  });
}

const config = (extra = '', type = 'socks'): string => `
version: 1
accessLog: { to: none, format: json }
services:
  - name: socks
    type: ${type}
    listen: 127.0.0.1:0
${extra}`;

describe('socks service, raw RFC 1928 exchanges', () => {
  let echo: Fixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => echo.close());

  async function greet(): Promise<Socket> {
    const c = await tcpConnect(proxy!.ports['socks']!);
    c.write(Buffer.from([5, 1, 0]));
    expect([...(await readN(c, 2))]).toEqual([5, 0]);
    return c;
  }

  it('BIND: first reply with the listening address, second with the peer, then relays', async () => {
    proxy = await startProxy(config());
    const c = await greet();
    c.write(Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, 0, 0]));
    const first = await readN(c, 10);
    expect([...first.subarray(0, 4)]).toEqual([5, 0, 0, 1]);
    expect([...first.subarray(4, 8)]).toEqual([127, 0, 0, 1]);
    const bindPort = first.readUInt16BE(8);
    const peer = await tcpConnect(bindPort);
    const second = await readN(c, 10);
    expect([...second.subarray(0, 8)]).toEqual([5, 0, 0, 1, 127, 0, 0, 1]);
    expect(second.readUInt16BE(8)).toBe(peer.localPort);
    peer.write('from peer');
    expect((await readN(c, 9)).toString()).toBe('from peer');
    c.write('from client');
    expect((await readN(peer, 11)).toString()).toBe('from client');
    c.end();
    peer.end();
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'BIND', code: 0, bytesIn: 9, bytesOut: 11 });
  });

  it('SOCKS4 BIND: two 8-byte replies (listening port, then the peer), then relays both ways', async () => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['socks']!);
    c.write(Buffer.from([4, 2, 0, 0, 127, 0, 0, 1, 0]));
    const first = await readN(c, 8);
    expect([first[0], first[1]]).toEqual([0, 90]);
    const peer = await tcpConnect(first.readUInt16BE(2));
    const second = await readN(c, 8);
    expect([second[0], second[1]]).toEqual([0, 90]);
    expect([...second.subarray(4, 8)]).toEqual([127, 0, 0, 1]);
    peer.write('up');
    expect((await readN(c, 2)).toString()).toBe('up');
    c.write('down');
    expect((await readN(peer, 4)).toString()).toBe('down');
    c.end();
    peer.end();
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'BIND', code: 0 });
  });

  it('BIND: a peer other than the expected host gets 470 and reply 0x02', async () => {
    proxy = await startProxy(config());
    const c = await greet();
    c.write(Buffer.from([5, 2, 0, 1, 10, 9, 8, 7, 0, 0]));
    const first = await readN(c, 10);
    const peer = await tcpConnect(first.readUInt16BE(8));
    const second = await readN(c, 10);
    expect(second[1]).toBe(0x02);
    await closed(peer);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 470, errorCode: 'PRX_ERR_SOCKS_BIND_PEER' });
  });

  it('BIND: no peer within the connect timeout -> PRX_ERR_SOCKS_BIND_TIMEOUT', async () => {
    proxy = await startProxy(config('    timeouts: { connect: 200ms }\n'));
    const c = await greet();
    c.write(Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, 0, 0]));
    await readN(c, 10);
    expect((await readN(c, 10))[1]).toBe(0x06);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 460, errorCode: 'PRX_ERR_SOCKS_BIND_TIMEOUT' });
  });

  it.each([
    ['truncated greeting', [5, 2, 0], 'PRX_ERR_SOCKS_TRUNCATED', null],
    ['unknown version', [6, 1, 0], 'PRX_ERR_SOCKS_VERSION', null],
    ['HTTP on a socks port', [...Buffer.from('GET / HTTP/1.0\r\n\r\n')], 'PRX_ERR_SOCKS_VERSION', null],
    ['method list of length 0', [5, 0], 'PRX_ERR_SOCKS_NO_METHOD', null],
    ['no acceptable method', [5, 1, 0x80], 'PRX_ERR_SOCKS_NO_METHOD', [5, 0xff]],
    ['domain of length 0', [5, 1, 0, 5, 1, 0, 3, 0, 0, 80], 'PRX_ERR_SOCKS_BAD_NAME', [5, 0, 5, 1]],
    ['unknown command', [5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1, 0, 80], 'PRX_ERR_SOCKS_COMMAND', [5, 0, 5, 7]],
    ['unknown address type', [5, 1, 0, 5, 1, 0, 9, 1, 2], 'PRX_ERR_SOCKS_ADDRESS_TYPE', [5, 0, 5, 8]],
    ['SOCKS4 unknown command', [4, 7, 0, 80, 127, 0, 0, 1, 0], 'PRX_ERR_SOCKS_COMMAND', [0, 91]],
    ['SOCKS4a empty host', [4, 1, 0, 80, 0, 0, 0, 1, 0, 0], 'PRX_ERR_SOCKS_BAD_NAME', [0, 91]],
    ['truncated SOCKS4', [4, 1, 0], 'PRX_ERR_SOCKS_TRUNCATED', null],
  ])('%s: clear reply or close, logged with a code', async (_name, bytes, code, replyStart) => {
    proxy = await startProxy(config());
    const c = await tcpConnect(proxy.ports['socks']!);
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    c.end(Buffer.from(bytes));
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec!.errorCode).toBe(code);
    const reply = [...Buffer.concat(got)];
    if (replyStart === null) expect(reply).toEqual([]);
    else expect(reply.slice(0, replyStart.length)).toEqual(replyStart);
  });

  it('silence: the handshake timeout closes and logs PRX_ERR_REQUEST_TIMEOUT', async () => {
    proxy = await startProxy(config('    timeouts: { handshake: 200ms }\n'));
    const c = await tcpConnect(proxy.ports['socks']!);
    c.write(Buffer.from([5]));
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec!.errorCode).toBe('PRX_ERR_REQUEST_TIMEOUT');
  });

  it('UDP ASSOCIATE: a datagram from a stranger is dropped and logged with a code', async () => {
    proxy = await startProxy(config());
    const info = jest.spyOn(proxy.rt.env.logger, 'info');
    const dropped = new Promise<unknown>((resolve) => {
      info.mockImplementation(((obj: unknown) => {
        if ((obj as { code?: string }).code === 'PRX_ERR_SOCKS_UDP_STRANGER') resolve(obj);
      }));
    });
    const c = await greet();
    c.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    const reply = await readN(c, 10);
    expect([...reply.subarray(0, 8)]).toEqual([5, 0, 0, 1, 127, 0, 0, 1]);
    const stranger = createSocket('udp4');
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.2', () => r()));
    stranger.send(Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, 0, 9, 120]), reply.readUInt16BE(8), '127.0.0.1');
    expect(await dropped).toMatchObject({ code: 'PRX_ERR_SOCKS_UDP_STRANGER', legacyCode: 443 });
    stranger.close();
    c.end();
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'UDPASSOC', code: 0, bytesOut: 0 });
    info.mockRestore();
  });

  it('natAddress (-Ne) and udpNatAddress (-Ni) are the addresses in CONNECT and UDP ASSOCIATE replies', async () => {
    proxy = await startProxy(config('    options: { natAddress: 203.0.113.7, udpNatAddress: 198.51.100.9 }\n'));
    const c = await greet();
    c.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255]));
    expect([...(await readN(c, 10)).subarray(0, 8)]).toEqual([5, 0, 0, 1, 203, 0, 113, 7]);
    c.write('nat');
    expect((await readN(c, 3)).toString()).toBe('nat');
    c.end();
    const u = await greet();
    u.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    expect([...(await readN(u, 10)).subarray(0, 8)]).toEqual([5, 0, 0, 1, 198, 51, 100, 9]);
    u.end();
    await proxy.waitForRecords(2);
  });

  it('UDP ASSOCIATE: a fragmented datagram (FRAG != 0) is dropped and logged; the next one is relayed', async () => {
    const target = await udpEcho();
    proxy = await startProxy(config());
    const info = jest.spyOn(proxy.rt.env.logger, 'info');
    const dropped = new Promise<unknown>((resolve) => {
      info.mockImplementation(((obj: unknown) => {
        if ((obj as { code?: string }).code === 'PRX_ERR_SOCKS_UDP_FRAGMENT') resolve(obj);
      }));
    });
    const c = await greet();
    c.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    const relay = (await readN(c, 10)).readUInt16BE(8);
    const u = createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    const datagram = (frag: number, text: string): Buffer =>
      Buffer.concat([Buffer.from([0, 0, frag, 1, 127, 0, 0, 1, target.port >> 8, target.port & 255]), Buffer.from(text)]);
    const replies: string[] = [];
    u.on('message', (m: Buffer) => replies.push(m.subarray(10).toString()));
    const answered = new Promise<void>((r) => u.once('message', () => r()));
    u.send(datagram(1, 'fragment'), relay, '127.0.0.1');
    expect(await dropped).toMatchObject({ code: 'PRX_ERR_SOCKS_UDP_FRAGMENT', legacyCode: 442 });
    u.send(datagram(0, 'whole'), relay, '127.0.0.1');
    await answered;
    expect(replies).toEqual(['whole']);
    info.mockRestore();
    u.close();
    c.end();
    await proxy.waitForRecords(1);
    target.close();
  });

  /** A UDP echo on 127.0.0.1 (answers each datagram with its own bytes). */
  async function udpEcho(): Promise<{ port: number; close: () => void }> {
    const u = createSocket('udp4');
    u.on('message', (m, r) => u.send(m, r.port, r.address));
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    return { port: u.address().port, close: () => u.close() };
  }

  it.each([
    [0, 'forwards', false],
    [1, 'forwards', true],
    [2, 'drops', false],
    [3, 'drops', false],
  ])('UDP ASSOCIATE -U%s: a second destination the ACL denies: %s it, logs it as new: %s', async (recheck, outcome, logsNew) => {
    const [a, b] = [await udpEcho(), await udpEcho()];
    proxy = await startProxy(
      config(`    auth: [iponly]\n    options: { udpRecheck: ${recheck} }\n    acl:\n      - allow: { ports: [${a.port}] }\n      - deny: {}\n`),
    );
    const info = jest.spyOn(proxy.rt.env.logger, 'info');
    const denied = new Promise<void>((resolve) => {
      info.mockImplementation(((obj: unknown) => {
        if ((obj as { code?: string }).code === 'PRX_ERR_ACL_DENIED') resolve();
      }));
    });
    const c = await greet();
    c.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    const relay = (await readN(c, 10)).readUInt16BE(8);
    const u = createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    const replies: number[] = [];
    const reply = (): Promise<void> => new Promise((r) => u.once('message', (m: Buffer) => (replies.push(m.readUInt16BE(8)), r())));
    const send = (port: number): void => {
      const header = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]);
      u.send(Buffer.concat([header, Buffer.from('ping')]), relay, '127.0.0.1');
    };
    const first = reply();
    send(a.port);
    await first;
    if (outcome === 'forwards') {
      const second = reply();
      send(b.port);
      await second;
      expect(replies).toEqual([a.port, b.port]);
    } else {
      send(b.port);
      await denied;
      expect(replies).toEqual([a.port]);
    }
    const newDestination = info.mock.calls.filter(([, msg]) => msg === 'UDP destination');
    expect(newDestination.length).toBe(logsNew ? 1 : 0);
    info.mockRestore();
    u.close();
    c.end();
    await proxy.waitForRecords(1);
    a.close();
    b.close();
  });
});

describe('auto service', () => {
  let web: Fixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    web = await httpServer();
    // Until the HTTP proxy's reader is in the tree, a stand-in proves the dispatch.
    if (!protocolReaders.has('http')) {
      protocolReaders.register('http', {
        name: 'http',
        create: () => (first) => {
          const s = new Session(first.connection, first.service, emptyRequest('http-standin'));
          s.error = proxyError('PRX_ERR_NOT_IMPLEMENTED', 'http stand-in');
          return of(s);
        },
      });
    }
  });
  afterEach(async () => {
    if (proxy !== null) await proxy.stop();
    proxy = null;
  });
  afterAll(async () => web.close());

  it('serves SOCKS5 and SOCKS4 by the first byte, logged as AUTO', async () => {
    proxy = await startProxy(config('', 'auto'));
    const port = proxy.ports['socks']!;
    expect((await curl(['--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${web.port}/hello`])).stdout).toBe('hello world');
    expect((await curl(['--socks4', `127.0.0.1:${port}`, `http://127.0.0.1:${web.port}/hello`])).stdout).toBe('hello world');
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((r) => [r.serviceLogName, r.code])).toEqual([
      ['AUTO', 0],
      ['AUTO', 0],
    ]);
  });

  it('hands other bytes to the http reader with the peeked byte put back', async () => {
    proxy = await startProxy(config('', 'auto'));
    const r = await curl(['-x', `http://127.0.0.1:${proxy.ports['socks']!}`, `http://127.0.0.1:${web.port}/hello`]);
    const [rec] = await proxy.waitForRecords(1);
    if (rec!.errorCode === 'PRX_ERR_NOT_IMPLEMENTED') expect(rec!.text).toBe('');
    else expect(r.stdout).toBe('hello world');
  });

  it('closes a TLS ClientHello with PRX_ERR_NOT_IMPLEMENTED when no tls reader exists', async () => {
    proxy = await startProxy(config('', 'auto'));
    const c = await tcpConnect(proxy.ports['socks']!);
    c.end(Buffer.from([0x16, 3, 1, 0, 5]));
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    if (protocolReaders.has('tls')) expect(rec!.errorCode).not.toBeNull();
    else expect(rec!.errorCode).toBe('PRX_ERR_NOT_IMPLEMENTED');
  });
});
