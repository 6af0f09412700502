/**
 * Egress pools end to end: the upstream (an HTTP server answering with the source address it
 * sees) checks which loopback address each connection came from. A random pool uses all its
 * entries; a sticky pool gives each user one address over many connections; an ACL rule's
 * pool wins over the service's.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { httpServer, type Fixture } from '../helpers/servers';
import { curl } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const config = (sticky: boolean): string => `
version: 1
users: { alice: "CL:a", bob: "CL:b", carol: "CL:c", dave: "CL:d" }
services:
  - name: s
    type: socks
    listen: 127.0.0.1:0
    auth: [strong]
    accessLog: { to: none, format: json }
    egress: { pool: [127.0.0.2, 127.0.0.3, 127.0.0.4, "::1"], sticky: ${sticky} }
    acl:
      - allow: { users: [carol] }
        egress: { pool: [127.0.0.9] }
      - allow: {}
`;

describe('egress address pools', () => {
  let web: Fixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    web = await httpServer((req, res) => res.end(req.socket.remoteAddress ?? '?'));
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(() => web.close());

  /** The source addresses the upstream saw for `n` connections of `user`. */
  async function sources(user: string, n: number): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await curl(['--socks5', `127.0.0.1:${proxy!.ports['s']!}`, '-U', `${user}:${user[0]}`, `http://127.0.0.1:${web.port}/`]);
      expect(r.code).toBe(0);
      seen.push(r.stdout);
    }
    return seen;
  }

  it('without sticky, connections spread over the IPv4 entries; a rule pool wins', async () => {
    proxy = await startProxy(config(false));
    const seen = new Set(await sources('alice', 24));
    // 3 entries, 24 draws: missing one has probability 3 * (2/3)^24, about 2e-4.
    expect([...seen].sort()).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    expect(new Set(await sources('carol', 3))).toEqual(new Set(['127.0.0.9']));
  });

  it('sticky: each user keeps one address over many connections', async () => {
    proxy = await startProxy(config(true));
    const byUser = new Map<string, Set<string>>();
    for (const user of ['alice', 'bob', 'dave']) byUser.set(user, new Set(await sources(user, 8)));
    for (const [, set] of byUser) {
      expect(set.size).toBe(1);
      expect(['127.0.0.2', '127.0.0.3', '127.0.0.4']).toContain([...set][0]);
    }
    // Restarting keeps the mapping: it is a hash of the user, not state.
    const alice = [...byUser.get('alice')!][0];
    await proxy.stop();
    proxy = await startProxy(config(true));
    expect(new Set(await sources('alice', 3))).toEqual(new Set([alice]));
  });

  it('UDP ASSOCIATE relays send from the pool address too', async () => {
    // Answers each datagram with the source address it came from.
    const udp = createSocket('udp4');
    udp.on('message', (_m, rinfo) => udp.send(rinfo.address, rinfo.port, rinfo.address));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    try {
      proxy = await startProxy(`
version: 1
services:
  - name: s
    type: socks
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
    egress: { pool: [127.0.0.7] }
`);
      const script = join(__dirname, 'fixtures', 'pysocks_client.py');
      const out = await new Promise<string>((resolve) =>
        execFile('/usr/bin/python3', [script, 'udp', String(proxy!.ports['s']!), '127.0.0.1', String(udp.address().port)], { timeout: 20000 }, (_e, stdout) => resolve(stdout)),
      );
      expect(out.trim().split(' ')[0]).toBe('127.0.0.7');
    } finally {
      udp.close();
    }
  });
});
