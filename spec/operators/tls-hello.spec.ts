/**
 * The ClientHello parser on hellos written by Node's own TLS client (captured off a raw TCP
 * server), plus truncated and non-TLS input, and the `split` responder's two writes.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { makeCert } from '../helpers/starttls-server';
import { HANDSHAKE, handshakeMessages, scanClientHello, serverHelloVersion } from '../../operators/readRequest/tls-hello';
import { tlsReader } from '../../operators/readRequest/tls';
import { Session } from '../../core/session';
import { PassThrough } from 'node:stream';

/** The first bytes a TLS client sends, captured by a plain TCP server. */
async function captureHello(opts: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  let client: ReturnType<typeof tlsConnect> | null = null;
  const got = new Promise<Buffer>((resolve) => {
    const server = createServer((s: Socket) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          s.destroy();
          server.close();
          resolve(buf);
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      client = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...opts });
      client.on('error', () => {});
    });
  });
  const hello = await got;
  (client as ReturnType<typeof tlsConnect> | null)?.destroy();
  return hello;
}

describe('scanClientHello', () => {
  it('reads SNI, ALPN and the highest offered version', async () => {
    const bytes = await captureHello({ servername: 'sni.example.test', ALPNProtocols: ['h2', 'http/1.1'] });
    const scan = scanClientHello(bytes);
    expect(scan.kind).toBe('hello');
    if (scan.kind !== 'hello') return;
    expect(scan.hello).toMatchObject({ sni: 'sni.example.test', alpn: ['h2', 'http/1.1'], version: 'TLSv1.3' });
    expect(bytes.toString('latin1', scan.hello.sniOffset, scan.hello.sniOffset + 16)).toBe('sni.example.test');
    expect(scan.length).toBe(bytes.length);
  });

  it('reports no SNI when the client sends none', async () => {
    const scan = scanClientHello(await captureHello({}));
    expect(scan).toMatchObject({ kind: 'hello', hello: { sni: null, sniOffset: -1 } });
  });

  it('asks for more bytes, and rejects what is not a handshake record', async () => {
    const bytes = await captureHello({ servername: 'a.test' });
    expect(scanClientHello(bytes.subarray(0, 3))).toEqual({ kind: 'need', bytes: 5 });
    expect(scanClientHello(bytes.subarray(0, 40))).toEqual({ kind: 'need', bytes: bytes.length });
    expect(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' });
    // A record that claims a hello but whose body is cut short inside is not a hello.
    const broken = Buffer.from(bytes);
    broken.writeUInt16BE(60, 3);
    expect(scanClientHello(broken.subarray(0, 65)).kind).not.toBe('need');
  });
});

describe('tls reader split', () => {
  it('writes the hello to the target in two writes cut inside the SNI', async () => {
    const hello = await captureHello({ servername: 'split.example.test' });
    const scan = scanClientHello(hello);
    if (scan.kind !== 'hello') throw new Error('no hello');
    const writes: Buffer[] = [];
    const target = { setNoDelay: () => target, write: (b: Buffer, cb?: () => void) => (writes.push(Buffer.from(b)), cb?.(), true) };
    const ctx = { service: { name: 't', type: 'tlspr', config: { options: { split: true } } } };
    const read = tlsReader.create({ protocol: 'tls', handshakeTimeoutMs: 1000 }, {} as never, ctx);
    const socket = new PassThrough() as unknown as Socket;
    const conn = { id: 1, socket, clientAddress: '127.0.0.1', clientPort: 1, localAddress: '', localPort: 0, acceptedAt: 0 };
    const first = new Session(conn, { name: 't', type: 'tlspr', logName: 'TLSPR', port: 0 }, { protocol: 'tls', operation: 'CONNECT', host: '', port: 0, address: null, text: '', method: '', url: '' });
    const sessionP = new Promise<Session>((resolve) => read(first).subscribe((s) => resolve(s)));
    (socket as unknown as PassThrough).write(hello);
    const s = await sessionP;
    expect(s.request).toMatchObject({ host: 'split.example.test', port: 443, operation: 'CONNECT' });
    s.target = target as unknown as Socket;
    await s.responder.connected(s);
    expect(writes).toHaveLength(2);
    expect(Buffer.concat(writes).equals(hello)).toBe(true);
    for (const w of writes) expect(w.toString('latin1')).not.toContain('split.example.test');
    expect(s.head).toBeNull();
  });
});

/** The server's first records for a real handshake (TLS max `max`), snooped by a TCP relay. */
async function captureServerFlight(max: 'TLSv1.2' | 'TLSv1.3'): Promise<Buffer> {
  const cert = makeCert('flight.test');
  const server = createTlsServer({ key: cert.key, cert: cert.cert, maxVersion: max }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const chunks: Buffer[] = [];
  const relay = createServer((c) => {
    const up = connect((server.address() as AddressInfo).port, '127.0.0.1');
    up.on('data', (d: Buffer) => chunks.push(d));
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  await new Promise<void>((resolve) => {
    const t = tlsConnect({ host: '127.0.0.1', port: (relay.address() as AddressInfo).port, servername: 'flight.test', rejectUnauthorized: false }, () => {
      t.destroy();
      resolve();
    });
    t.on('error', () => resolve());
  });
  await new Promise((r) => relay.close(r));
  await new Promise((r) => server.close(r));
  cert.cleanup();
  return Buffer.concat(chunks);
}

/** Handshake record payloads of `flight`, concatenated. */
function handshakeStream(flight: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let pos = 0; pos + 5 <= flight.length; pos += 5 + flight.readUInt16BE(pos + 3)) {
    if (flight[pos] === 22) parts.push(flight.subarray(pos + 5, pos + 5 + flight.readUInt16BE(pos + 3)));
  }
  return Buffer.concat(parts);
}

describe('server handshake parsing (check levels)', () => {
  it('TLS 1.2: ServerHello, a real Certificate, ServerHelloDone', async () => {
    const { messages } = handshakeMessages(handshakeStream(await captureServerFlight('TLSv1.2')));
    expect(messages[0]!.type).toBe(HANDSHAKE.SERVER_HELLO);
    expect(serverHelloVersion(messages[0]!.body)).toBe('TLSv1.2');
    expect(messages.find((m) => m.type === HANDSHAKE.CERTIFICATE)!.length).toBeGreaterThan(64);
    expect(messages.map((m) => m.type)).toContain(HANDSHAKE.SERVER_HELLO_DONE);
  });

  it('TLS 1.3: the ServerHello names TLSv1.3 in supported_versions', async () => {
    const { messages } = handshakeMessages(handshakeStream(await captureServerFlight('TLSv1.3')));
    expect(serverHelloVersion(messages[0]!.body)).toBe('TLSv1.3');
  });

  it('keeps a message cut across records as the rest, and refuses a body that is not a ServerHello', () => {
    const msg = Buffer.concat([Buffer.from([11, 0, 0, 100]), Buffer.alloc(100, 1)]);
    const cut = handshakeMessages(msg.subarray(0, 50));
    expect(cut.messages).toEqual([]);
    expect(cut.rest.length).toBe(50);
    expect(handshakeMessages(Buffer.concat([cut.rest, msg.subarray(50)])).messages).toEqual([expect.objectContaining({ type: 11, length: 100 })]);
    expect(serverHelloVersion(Buffer.from([1, 2, 3]))).toBeNull();
    expect(serverHelloVersion(Buffer.concat([Buffer.from([0x16, 0x03]), Buffer.alloc(40)]))).toBeNull();
  });
});
