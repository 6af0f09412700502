import { AuthCache, type AuthCacheKey } from '../../core/auth';
import type { NameLookups } from '../../core/auth';
import { DNSNAME_LOOKUPS_SYMBOL } from '../../operators/authenticate';
import { code, FakeClock, makeEnv, makeSession, service, type SessionOptions } from './harness';

const USERS = { alice: 'CL:wonderland', bob: 'CR:$1$salt$Wy5Ks51nD.2IS9DTiqc8E1', carol: 'NT:318EC8F505742D76864CE8B934FC0122' };
const ACL = [
  { allow: { users: ['alice', 'carol'], ports: [443] } },
  { allow: { sources: ['10.0.0.0/8'], users: ['-'] } },
  { allow: { users: ['lan.example'] } },
  { deny: {} },
];

describe('built-in methods (table)', () => {
  const cases: [string, string[], SessionOptions, number][] = [
    ['none allows without ACL', ['none'], { client: '192.0.2.9', port: 25 }, 0],
    ['iponly: source rule for no user', ['iponly'], { client: '10.1.2.3' }, 0],
    ['iponly: outside the source range hits deny', ['iponly'], { client: '192.0.2.9' }, 1],
    ['iponly hides the user', ['iponly'], { client: '192.0.2.9', user: 'alice', password: 'wonderland' }, 1],
    ['useronly: user without password', ['useronly'], { client: '192.0.2.9', user: 'alice' }, 0],
    ['useronly: no user', ['useronly'], { client: '192.0.2.9' }, 4],
    ['strong: good CL password', ['strong'], { client: '192.0.2.9', user: 'alice', password: 'wonderland' }, 0],
    ['strong: no user', ['strong'], { client: '192.0.2.9' }, 4],
    ['strong: unknown user', ['strong'], { client: '192.0.2.9', user: 'zed', password: 'x' }, 5],
    ['strong: wrong CL password', ['strong'], { client: '192.0.2.9', user: 'alice', password: 'x' }, 6],
    ['strong: wrong CR password', ['strong'], { client: '192.0.2.9', user: 'bob', password: 'x' }, 7],
    ['strong: wrong NT password', ['strong'], { client: '192.0.2.9', user: 'carol', password: 'x' }, 8],
    ['strong: good NT password', ['strong'], { client: '192.0.2.9', user: 'carol', password: 'ride the wind' }, 0],
    ['strong: ok but ACL port denies (final)', ['strong'], { client: '192.0.2.9', user: 'alice', password: 'wonderland', port: 80 }, 1],
    ['strong over IPv6', ['strong'], { client: '2001:db8::5', user: 'alice', password: 'wonderland' }, 0],
    ['iponly strong: falls through to strong', ['iponly', 'strong'], { client: '192.0.2.9', user: 'alice', password: 'wonderland' }, 0],
    ['iponly strong: highest failure wins', ['iponly', 'strong'], { client: '192.0.2.9', user: 'alice', password: 'x' }, 6],
    ['strong iponly: iponly rescues a LAN client', ['strong', 'iponly'], { client: '10.0.0.7', user: 'zed', password: 'x' }, 0],
    ['IPv4-mapped client matches the v4 range', ['iponly'], { client: '::ffff:10.0.0.7' }, 0],
  ];
  it.each(cases)('%s', async (_n, auth, s, want) => {
    const run = service({ auth, acl: ACL }, makeEnv({ users: USERS }));
    expect(code(await run(makeSession(s)))).toBe(want);
  });

  it('strong leaves the decision for authorize: parents of the matching rule', async () => {
    const acl = [{ allow: { users: ['alice'] }, parents: [{ weight: 1000, type: 'http', host: '127.0.0.1', port: 3129 }] }];
    const out = await service({ auth: ['strong'], acl }, makeEnv({ users: USERS }))(makeSession({ user: 'alice', password: 'wonderland' }));
    expect(out.error).toBeNull();
    expect(out.session.parents).toHaveLength(1);
    expect(out.session.authMethod).toBe('strong');
  });
});

function cacheEnv(keys: AuthCacheKey[], clock = new FakeClock()): { env: ReturnType<typeof makeEnv>; cache: AuthCache } {
  const cache = new AuthCache(clock);
  const env = makeEnv({ users: USERS, clock, config: { authCache: { keys, ttl: '60s' } }, symbols: [['auth.cache', cache]] });
  return { env, cache };
}

describe('cache and cacheacl', () => {
  const acl = [{ allow: { users: ['alice'], ports: [443] } }, { deny: {} }];

  it('auth [cache, strong]: miss falls through, success is stored, next request hits the cache', async () => {
    const { env, cache } = cacheEnv(['user', 'password']);
    const run = service({ auth: ['cache', 'strong'], acl }, env);
    const first = await run(makeSession({ user: 'alice', password: 'wonderland' }));
    expect([code(first), first.session.authMethod, cache.size]).toEqual([0, 'strong', 1]);
    const second = await run(makeSession({ user: 'alice', password: 'wonderland' }));
    expect([code(second), second.session.authMethod]).toEqual([0, 'cache']);
    const wrong = await run(makeSession({ user: 'alice', password: 'nope' }));
    expect([code(wrong), wrong.session.authMethod]).toEqual([6, null]);
  });

  it('cache walks the ACL with the cached user; cacheacl skips it', async () => {
    const { env } = cacheEnv(['ip']);
    await service({ auth: ['strong'], acl }, env)(makeSession({ user: 'alice', password: 'wonderland' }));
    // Port 80 is not allowed for alice: the cache hit still walks the ACL.
    const viaCache = await service({ auth: ['cache'], acl }, env)(makeSession({ port: 80 }));
    expect([code(viaCache), viaCache.session.user]).toEqual([1, 'alice']);
    const viaCacheAcl = await service({ auth: ['cacheacl'], acl }, env)(makeSession({ port: 80 }));
    expect([code(viaCacheAcl), viaCacheAcl.session.user, viaCacheAcl.session.aclRule]).toEqual([0, 'alice', -1]);
  });

  it('does not store a refused request or an anonymous success', async () => {
    const { env, cache } = cacheEnv(['user']);
    await service({ auth: ['strong'], acl }, env)(makeSession({ user: 'alice', password: 'wonderland', port: 80 }));
    await service({ auth: ['none'], acl }, env)(makeSession({ user: 'alice' }));
    expect(cache.size).toBe(0);
  });

  it('limit: the same user from another IP is refused with 10, and the chain stops', async () => {
    const { env } = cacheEnv(['ip', 'user', 'limit']);
    const run = service({ auth: ['cache', 'strong'], acl }, env);
    expect(code(await run(makeSession({ user: 'alice', password: 'wonderland', client: '10.0.0.1' })))).toBe(0);
    const other = await run(makeSession({ user: 'alice', password: 'wonderland', client: '10.0.0.2' }));
    expect(code(other)).toBe(10);
    expect(other.error?.code).toBe('PRX_ERR_LIMIT_EXCEEDED');
  });

  it('entries expire with the injected clock', async () => {
    const clock = new FakeClock();
    const { env } = cacheEnv(['user'], clock);
    const run = service({ auth: ['cache'], acl }, env);
    await service({ auth: ['strong'], acl }, env)(makeSession({ user: 'alice', password: 'wonderland' }));
    expect(code(await run(makeSession({ user: 'alice' })))).toBe(0);
    clock.t += 60_000;
    expect(code(await run(makeSession({ user: 'alice' })))).toBe(4);
  });

  describe('the order pitfall (3proxy behaviour reproduced)', () => {
    it('auth [strong, cache] with key user: any password passes for a recently seen user', async () => {
      const { env } = cacheEnv(['user']);
      const run = service({ auth: ['strong', 'cache'], acl }, env);
      expect(code(await run(makeSession({ user: 'alice', password: 'wonderland' })))).toBe(0);
      const guessed = await run(makeSession({ user: 'alice', password: 'anything' }));
      expect([code(guessed), guessed.session.authMethod]).toEqual([0, 'cache']);
    });

    it('auth [cache, strong] with key user: a wrong password still gets in after a hit (cache first)', async () => {
      const { env } = cacheEnv(['user']);
      const run = service({ auth: ['cache', 'strong'], acl }, env);
      expect(code(await run(makeSession({ user: 'alice', password: 'wonderland' })))).toBe(0);
      expect(code(await run(makeSession({ user: 'alice', password: 'anything' })))).toBe(0);
    });

    it('auth [strong, cache] with key user,password: a wrong password is refused', async () => {
      const { env } = cacheEnv(['user', 'password']);
      const run = service({ auth: ['strong', 'cache'], acl }, env);
      expect(code(await run(makeSession({ user: 'alice', password: 'wonderland' })))).toBe(0);
      expect(code(await run(makeSession({ user: 'alice', password: 'anything' })))).toBe(6);
    });
  });
});

describe('dnsname', () => {
  const names: Record<string, string[]> = { '10.0.0.5': ['host5.lan.example.'], '10.0.0.6': ['liar.lan.example'], '2001:db8::7': ['v6.lan.example'] };
  const forward: Record<string, string[]> = { 'host5.lan.example': ['10.0.0.5'], 'liar.lan.example': ['10.0.0.99'], 'v6.lan.example': ['2001:db8:0:0::7'] };
  const lookups: NameLookups = {
    reverse: (a) => (names[a] ? Promise.resolve(names[a]) : Promise.reject(new Error('ENOTFOUND'))),
    forward: (n) => Promise.resolve(forward[n] ?? []),
  };
  const acl = [{ allow: { users: ['host5.lan.example', 'v6.lan.example'] } }, { deny: {} }];
  const cases: [string, string, number, string | null][] = [
    ['confirmed name becomes the user', '10.0.0.5', 0, 'host5.lan.example'],
    ['IPv4-mapped client', '::ffff:10.0.0.5', 0, 'host5.lan.example'],
    ['IPv6 client, forward answer in another notation', '2001:db8::7', 0, 'v6.lan.example'],
    ['forward lookup disagrees: 3', '10.0.0.6', 3, 'liar.lan.example'],
    ['no PTR: 3', '10.0.0.8', 3, null],
  ];
  it.each(cases)('%s', async (_n, client, want, user) => {
    const env = makeEnv({ symbols: [[DNSNAME_LOOKUPS_SYMBOL, lookups]] });
    const out = await service({ auth: ['dnsname'], acl }, env)(makeSession({ client }));
    expect([code(out), out.session.user]).toEqual([want, user]);
  });

  it('a confirmed name not in the ACL is denied by the walk', async () => {
    const env = makeEnv({ symbols: [[DNSNAME_LOOKUPS_SYMBOL, lookups]] });
    const out = await service({ auth: ['dnsname'], acl: [{ deny: {} }] }, env)(makeSession({ client: '10.0.0.5' }));
    expect(code(out)).toBe(1);
  });
});
