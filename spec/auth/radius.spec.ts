/**
 * RADIUS against a small RFC 2865/2866 server on loopback written here with its own crypto
 * (not the client's helpers), so both ends are checked independently.
 */
import { createHash, createHmac } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { RadiusClient } from '../../core/auth';
import { hidePassword } from '../../core/auth/radius-packet';
import { RADIUS_CLIENT_SYMBOL } from '../../operators/authenticate';
import { code, makeEnv, makeSession, service } from './harness';

const SECRET = 'testing123';
const md5 = (...b: Buffer[]): Buffer => createHash('md5').update(Buffer.concat(b)).digest();

interface Seen {
  code: number;
  attrs: Map<number, Buffer>;
  password?: string;
  authenticatorOk: boolean;
}

function attributes(p: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let at = 20; at < p.readUInt16BE(2); at += p[at + 1]!) m.set(p[at]!, p.subarray(at + 2, at + p[at + 1]!));
  return m;
}

function reveal(hidden: Buffer, auth: Buffer): string {
  const out: number[] = [];
  let prev = auth;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = md5(Buffer.from(SECRET), prev);
    for (let j = 0; j < 16; j++) out.push(hidden[i + j]! ^ b[j]!);
    prev = hidden.subarray(i, i + 16);
  }
  return Buffer.from(out).toString('utf8').replace(/\0+$/, '');
}

function reply(req: Buffer, codeNo: number, attrs: [number, Buffer][]): Buffer {
  const body = Buffer.concat(attrs.map(([t, v]) => Buffer.concat([Buffer.from([t, v.length + 2]), v])));
  const head = Buffer.from([codeNo, req[1]!, 0, 0]);
  head.writeUInt16BE(20 + body.length, 2);
  const auth = md5(head, req.subarray(4, 20), body, Buffer.from(SECRET));
  return Buffer.concat([head, auth, body]);
}

/** Accepts alice/wonderland (Framed-IP 127.0.0.9), rejects the rest, acks accounting. */
async function fakeServer(): Promise<{ port: number; seen: Seen[]; close(): Promise<void>; sock: Socket }> {
  const sock = createSocket('udp4');
  const seen: Seen[] = [];
  sock.on('message', (msg, rinfo) => {
    const attrs = attributes(msg);
    if (msg[0] === 1) {
      const ma = attrs.get(80);
      const zeroed = Buffer.from(msg);
      if (ma !== undefined) zeroed.fill(0, msg.indexOf(ma), msg.indexOf(ma) + 16);
      const maOk = ma !== undefined && createHmac('md5', SECRET).update(zeroed).digest().equals(ma);
      const password = reveal(attrs.get(2) ?? Buffer.alloc(0), msg.subarray(4, 20));
      seen.push({ code: 1, attrs, password, authenticatorOk: maOk });
      const user = attrs.get(1)?.toString();
      const ok = user === 'alice' && password === 'wonderland';
      const out = ok ? reply(msg, 2, [[8, Buffer.from([127, 0, 0, 9])]]) : reply(msg, 3, [[18, Buffer.from(user === 'quota' ? '10 over quota' : 'no')]]);
      sock.send(out, rinfo.port, rinfo.address);
    } else if (msg[0] === 4) {
      const zero = Buffer.from(msg);
      zero.fill(0, 4, 20);
      seen.push({ code: 4, attrs, authenticatorOk: md5(zero, Buffer.from(SECRET)).equals(msg.subarray(4, 20)) });
      sock.send(reply(msg, 5, []), rinfo.port, rinfo.address);
    }
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = (sock.address()).port;
  return { port, seen, sock, close: () => new Promise((r) => sock.close(() => r())) };
}

describe('User-Password hiding (RFC 2865 5.2)', () => {
  it.each(['', 'short', 'exactly16bytes!!', 'a password that spans three sixteen-byte blocks'])('round-trips %j', (pw) => {
    const auth = md5(Buffer.from('vector'));
    const hidden = hidePassword(Buffer.from(pw), SECRET, auth);
    expect(hidden.length % 16).toBe(0);
    expect(hidden.length).toBe(Math.max(16, Math.ceil(pw.length / 16) * 16));
    expect(reveal(hidden, auth)).toBe(pw);
  });
});

describe('radius', () => {
  let srv: Awaited<ReturnType<typeof fakeServer>>;
  beforeEach(async () => {
    srv = await fakeServer();
  });
  afterEach(async () => {
    await srv.close();
  });

  const envWith = (client: RadiusClient, accounting = false): ReturnType<typeof makeEnv> =>
    makeEnv({ config: { radius: { secret: SECRET, servers: ['192.0.2.1:1'], accounting } }, symbols: [[RADIUS_CLIENT_SYMBOL, client]] });
  const acl = [{ allow: { users: ['alice'] } }, { deny: {} }];

  it('accepts with the right password; Framed-IP becomes the outgoing address', async () => {
    const client = new RadiusClient({ secret: SECRET, servers: [{ host: '127.0.0.1', port: srv.port, accountingPort: srv.port }], timeoutMs: 2000 });
    const out = await service({ auth: ['radius'], acl }, envWith(client))(makeSession({ user: 'alice', password: 'wonderland', host: 'example.com', port: 443 }));
    expect([code(out), out.session.externalAddress, out.session.authMethod]).toEqual([0, '127.0.0.9', 'radius']);
    const [req] = srv.seen;
    expect(req?.authenticatorOk).toBe(true);
    expect(req?.password).toBe('wonderland');
    expect(req?.attrs.get(6)?.readUInt32BE(0)).toBe(8); // Authenticate-Only
    expect(req?.attrs.get(30)?.toString()).toBe('example.com');
    expect(req?.attrs.get(16)?.readUInt32BE(0)).toBe(443);
    expect([...(req?.attrs.get(8) ?? [])]).toEqual([10, 0, 0, 1]); // Framed-IP-Address = client
  });

  const rejects: [string, string, string, number, string][] = [
    ['wrong password', 'alice', 'nope', 4, 'PRX_ERR_AUTH_RADIUS_REJECT'],
    ['unknown user, reply code in the message', 'quota', 'x', 4, 'PRX_ERR_AUTH_RADIUS_REJECT'],
  ];
  it.each(rejects)('%s', async (_n, user, password, want, errCode) => {
    const client = new RadiusClient({ secret: SECRET, servers: [{ host: '127.0.0.1', port: srv.port, accountingPort: srv.port }], timeoutMs: 2000 });
    const out = await service({ auth: ['radius'], acl }, envWith(client))(makeSession({ user, password }));
    expect([code(out), out.error?.code]).toEqual([want, errCode]);
    if (user === 'quota') expect(out.error?.message).toMatch(/reply 10/);
  });

  it('tries the next server when one does not answer, and falls through to strong when none does', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const deadPort = (silent.address()).port;
    const two = new RadiusClient({
      secret: SECRET,
      servers: [
        { host: '127.0.0.1', port: deadPort, accountingPort: deadPort },
        { host: '127.0.0.1', port: srv.port, accountingPort: srv.port },
      ],
      timeoutMs: 200,
    });
    expect(code(await service({ auth: ['radius'], acl }, envWith(two))(makeSession({ user: 'alice', password: 'wonderland' })))).toBe(0);
    const none = new RadiusClient({ secret: SECRET, servers: [{ host: '127.0.0.1', port: deadPort, accountingPort: deadPort }], timeoutMs: 200 });
    const env = makeEnv({ users: { alice: 'CL:local' }, config: { radius: { secret: SECRET, servers: ['x'] } }, symbols: [[RADIUS_CLIENT_SYMBOL, none]] });
    const failed = await service({ auth: ['radius'], acl }, env)(makeSession({ user: 'alice', password: 'local' }));
    expect(failed.error?.code).toBe('PRX_ERR_AUTH_RADIUS_TIMEOUT');
    expect(code(await service({ auth: ['radius', 'strong'], acl }, env)(makeSession({ user: 'alice', password: 'local' })))).toBe(0);
    silent.close();
  });

  it('ignores a reply signed with another secret', async () => {
    const wrong = new RadiusClient({ secret: 'other', servers: [{ host: '127.0.0.1', port: srv.port, accountingPort: srv.port }], timeoutMs: 300 });
    const out = await service({ auth: ['radius'], acl }, envWith(wrong))(makeSession({ user: 'alice', password: 'wonderland' }));
    expect(out.error?.code).toBe('PRX_ERR_AUTH_RADIUS_TIMEOUT');
  });

  it('sends Accounting Start after an accept and Stop with the counters at the session end', async () => {
    const client = new RadiusClient({ secret: SECRET, servers: [{ host: '127.0.0.1', port: srv.port, accountingPort: srv.port }], timeoutMs: 2000 });
    const out = await service({ auth: ['radius'], acl }, envWith(client, true))(makeSession({ user: 'alice', password: 'wonderland' }));
    expect(code(out)).toBe(0);
    const stopSeen = new Promise<void>((resolve) => srv.sock.on('message', (m) => m[0] === 4 && srv.seen.length >= 3 && resolve()));
    out.session.bytesIn = 1234;
    out.session.bytesOut = 99;
    out.session.close();
    await stopSeen;
    const acct = srv.seen.filter((s) => s.code === 4);
    expect(acct.map((a) => [a.authenticatorOk, a.attrs.get(40)?.readUInt32BE(0)])).toEqual([
      [true, 1],
      [true, 2],
    ]);
    expect(acct[1]?.attrs.get(42)?.readUInt32BE(0)).toBe(1234);
    expect(acct[1]?.attrs.get(43)?.readUInt32BE(0)).toBe(99);
    expect(acct[0]?.attrs.get(44)?.toString()).toBe(acct[1]?.attrs.get(44)?.toString());
  });

  it('a config without radius settings fails at create time', () => {
    expect(() => service({ auth: ['radius'] }, makeEnv())).toThrow(/radius: \{ secret, servers \}/);
  });
});
