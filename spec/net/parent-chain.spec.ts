/**
 * ParentChain against in-process peers: user "*" passes the client's credentials on (code 4
 * without them), and a failed hop is skipped for its back-off while its group has another.
 */
import { ParentChain } from '../../core/net/chain';
import { SystemResolver } from '../../core/net/resolver';
import { DirectDialer } from '../../core/net/dialer';
import { systemClock, type Env } from '../../core/env';
import type { Session } from '../../core/session';
import { echoServer, closedPort, type Fixture } from '../helpers/servers';
import { socks5Peer, type SocksPeer } from '../e2e/parents-helpers';

const env = { config: {}, clock: systemClock, resolver: new SystemResolver(), dialer: new DirectDialer() } as unknown as Env;

function session(parents: unknown[], port: number, user: string | null, password: string | null): Session {
  return {
    parents,
    user,
    password,
    externalAddress: null,
    request: { host: '127.0.0.1', port, address: '127.0.0.1' },
    connection: { clientAddress: '127.0.0.1', clientPort: 1, localAddress: '127.0.0.1', localPort: 2 },
  } as unknown as Session;
}

describe('ParentChain', () => {
  let echo: Fixture;
  let peer: SocksPeer;
  beforeAll(async () => {
    echo = await echoServer();
    peer = await socks5Peer('bob', 'pw');
  });
  afterAll(async () => {
    await echo.close();
    await peer.stop();
  });
  const opts = () => ({ timeoutMs: 2000, family: '46' as const, localAddress: undefined, signal: new AbortController().signal });

  it('user "*" passes the client credentials; none given is code 4', async () => {
    const chain = new ParentChain(env);
    const hop = { type: 'socks5', host: '127.0.0.1', port: peer.port, user: '*' };
    const s = await chain.connect(session([hop], echo.port, 'bob', 'pw'), opts());
    s.resume();
    s.end('x');
    await new Promise((r) => s.once('close', r));
    expect(peer.logins).toContain('bob:pw');
    await expect(chain.connect(session([hop], echo.port, null, null), opts())).rejects.toMatchObject({ legacyCode: 4 });
  });

  it('skips a failed hop during its back-off when the group has a healthy one', async () => {
    const dead = await closedPort();
    const bad = { weight: 500, type: 'socks5', host: '127.0.0.1', port: dead };
    const good = { weight: 500, type: 'socks5', host: '127.0.0.1', port: peer.port, user: 'bob', password: 'pw' };
    // random() = 0 always draws the first (dead) hop of the group.
    const chain = new ParentChain(env, 60000, () => 0);
    const sockets = [];
    for (let i = 0; i < 5; i++) {
      const s = session([bad, good], echo.port, null, null);
      sockets.push(await chain.connect(s, opts()));
      expect(s.parents).toEqual([good]);
    }
    expect(chain.isHealthy(bad)).toBe(false);
    for (const s of sockets) s.destroy();
    // Without back-off (0 ms) the dead hop is drawn every time: both tries fail with 13.
    const noBackoff = new ParentChain(env, 0, () => 0);
    await expect(noBackoff.connect(session([bad, good], echo.port, null, null), opts())).rejects.toMatchObject({ legacyCode: 13 });
  });

  it('back-off periods follow the clock: root parentBackoff, a service override, 0 = off', async () => {
    const dead = await closedPort();
    const bad = { weight: 500, type: 'socks5', host: '127.0.0.1', port: dead };
    const good = { weight: 500, type: 'socks5', host: '127.0.0.1', port: peer.port, user: 'bob', password: 'pw' };
    let now = 1_000_000;
    const clock = { now: () => now };
    const fakeEnv = { ...env, clock, config: { parentBackoff: '5s', parentRetries: 1 } } as unknown as Env;
    const chain = new ParentChain(fakeEnv, 30000, () => 0);
    // One try only: the first connection draws the dead hop and fails, which marks it.
    await expect(chain.connect(session([bad, good], echo.port, null, null), opts())).rejects.toMatchObject({ legacyCode: 13 });
    const through = async (o: Partial<ReturnType<typeof opts>> & { backoffMs?: number } = {}): Promise<unknown[]> => {
      const s = session([bad, good], echo.port, null, null);
      const sock = await chain.connect(s, { ...opts(), ...o }).catch(() => null);
      sock?.destroy();
      return s.parents as unknown[];
    };
    now += 4999;
    expect(await through()).toEqual([good]);
    expect(chain.isHealthy(bad)).toBe(false);
    // A service with a shorter period (options.parentBackoff) already draws it again.
    expect(chain.isHealthy(bad, 4000)).toBe(true);
    expect(chain.isHealthy(bad, 0)).toBe(true);
    now += 1;
    expect(chain.isHealthy(bad)).toBe(true);
    // Past the period the dead hop is drawn (and fails, marking it again at the new time).
    expect(await through()).toEqual([bad]);
    now += 1000;
    expect(await through()).toEqual([good]);
    expect(await through({ backoffMs: 0 })).toEqual([bad]);
  });
});
