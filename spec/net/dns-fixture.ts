/**
 * A tiny authoritative DNS server on 127.0.0.1:0 (UDP and TCP on the same port), for resolver
 * tests. `records` maps "name/TYPE" to addresses; unknown names get NXDOMAIN; `truncate` makes
 * UDP answers set TC so the client must retry over TCP; `silent` drops every UDP query.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import * as dnsPacket from 'dns-packet';

export interface DnsFixture {
  readonly port: number;
  readonly records: Map<string, string[]>;
  /** Queries seen, "udp:name/TYPE" or "tcp:name/TYPE". */
  readonly queries: string[];
  truncate: boolean;
  silent: boolean;
  ttl: number;
  close(): Promise<void>;
}

function answer(fx: DnsFixture, query: dnsPacket.DecodedPacket, transport: string): Buffer {
  const q = query.questions?.[0];
  const key = `${q?.name ?? ''}/${q?.type ?? ''}`;
  fx.queries.push(`${transport}:${key}`);
  const known = [...fx.records.keys()].some((k) => k.startsWith(`${q?.name ?? ''}/`));
  const addrs = fx.records.get(key) ?? [];
  const tc = transport === 'udp' && fx.truncate;
  const flags = dnsPacket.RECURSION_AVAILABLE | (tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | (known ? 0 : 3);
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags,
    questions: query.questions ?? [],
    answers: tc ? [] : addrs.map((data) => ({ type: q?.type === 'AAAA' ? 'AAAA' : 'A', name: q?.name ?? '', ttl: fx.ttl, data })),
  });
}

/** Binds TCP on an ephemeral port, then UDP on the same number (retried if UDP is taken). */
async function bindPair(): Promise<{ udp: UdpSocket; tcp: Server }> {
  for (let attempt = 0; ; attempt++) {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    const port = (tcp.address() as AddressInfo).port;
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    if (ok) return { udp, tcp };
    udp.close();
    await new Promise<void>((r) => tcp.close(() => r()));
    if (attempt > 20) throw new RangeError('no free port pair');
  }
}

export async function dnsFixture(): Promise<DnsFixture> {
  const { udp, tcp } = await bindPair();
  const port = udp.address().port;
  const conns = new Set<Socket>();
  const fx: DnsFixture = {
    port,
    records: new Map(),
    queries: [],
    truncate: false,
    silent: false,
    ttl: 300,
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
  udp.on('message', (msg, rinfo) => {
    if (fx.silent) return;
    udp.send(answer(fx, dnsPacket.decode(msg), 'udp'), rinfo.port, rinfo.address);
  });
  tcp.on('connection', (c: Socket) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => c.destroy());
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const out = answer(fx, dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))), 'tcp');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length);
      c.write(Buffer.concat([len, out]));
    });
  });
  return fx;
}
