import { AuthCache, type AuthCacheKey, type AuthCacheRequest } from '../../core/auth';
import { FakeClock } from './harness';

function req(over: Partial<AuthCacheRequest> = {}): AuthCacheRequest {
  return {
    user: 'alice',
    password: 'pw',
    clientAddress: '10.0.0.1',
    acl: 'acl1',
    dstaddr: '192.0.2.1',
    dstport: 80,
    dsthost: 'example.com',
    dstoper: 'CONNECT',
    srvaddr: '127.0.0.1',
    srvport: 3128,
    ...over,
  };
}

describe('AuthCache lookups by key set (3proxy cacheauth)', () => {
  // Stored: alice/pw from 10.0.0.1 (acl1, example.com:80). Then a lookup with `probe`.
  const cases: [string, AuthCacheKey[], Partial<AuthCacheRequest>, 'hit' | 'miss' | 'limit'][] = [
    ['user+password, same', ['user', 'password'], {}, 'hit'],
    ['user+password, other password', ['user', 'password'], { password: 'x' }, 'miss'],
    ['user+password, no password', ['user', 'password'], { password: null }, 'miss'],
    ['user+password, other IP still hits', ['user', 'password'], { clientAddress: '10.9.9.9' }, 'hit'],
    ['user only, any password', ['user'], { password: 'wrong' }, 'hit'],
    ['user only, no user', ['user'], { user: null }, 'miss'],
    ['user only, other user', ['user'], { user: 'bob' }, 'miss'],
    ['ip only, no user given', ['ip'], { user: null, password: null }, 'hit'],
    ['ip only, other IP', ['ip'], { clientAddress: '10.0.0.2' }, 'miss'],
    ['ip+user, other IP', ['ip', 'user'], { clientAddress: '10.0.0.2' }, 'miss'],
    ['ip+user+limit, other IP', ['ip', 'user', 'limit'], { clientAddress: '10.0.0.2' }, 'limit'],
    ['ip+user+limit, same IP', ['ip', 'user', 'limit'], {}, 'hit'],
    ['user+limit without ip: no binding', ['user', 'limit'], { clientAddress: '10.0.0.2' }, 'hit'],
    ['acl identity differs', ['user', 'acl'], { acl: 'acl2' }, 'miss'],
    ['dsthost differs', ['user', 'dsthost'], { dsthost: 'other.example' }, 'miss'],
    ['dstport differs', ['user', 'dstport'], { dstport: 443 }, 'miss'],
    ['dstport same', ['user', 'dstport'], {}, 'hit'],
    ['srvport differs', ['user', 'srvport'], { srvport: 1080 }, 'miss'],
    ['IPv6 client, ip key', ['ip', 'user'], { clientAddress: '2001:db8::1' }, 'miss'],
  ];
  it.each(cases)('%s', (_name, keys, probe, want) => {
    const cache = new AuthCache(new FakeClock(), { keys });
    cache.store(req(), null);
    expect(cache.lookup(req(probe)).kind).toBe(want);
  });

  it('restores the stored user when the key has no user', () => {
    const cache = new AuthCache(new FakeClock(), { keys: ['ip'] });
    cache.store(req({ user: 'alice' }), null);
    const r = cache.lookup(req({ user: 'mallory', password: null }));
    expect(r.kind === 'hit' && r.entry.user).toBe('alice');
  });

  it('keeps the external address only with `ext`', () => {
    const withExt = new AuthCache(new FakeClock(), { keys: ['user', 'ext'] });
    const without = new AuthCache(new FakeClock(), { keys: ['user'] });
    withExt.store(req(), '192.0.2.77');
    without.store(req(), '192.0.2.77');
    const a = withExt.lookup(req());
    const b = without.lookup(req());
    expect(a.kind === 'hit' && a.entry.externalAddress).toBe('192.0.2.77');
    expect(b.kind === 'hit' && b.entry.externalAddress).toBeNull();
  });
});

describe('AuthCache storing, TTL and size', () => {
  it('stores only with a user, and with a password when the password is keyed', () => {
    const c = new AuthCache(new FakeClock(), { keys: ['user', 'password'] });
    expect(c.storable(req({ user: null }))).toBe(false);
    expect(c.storable(req({ password: null }))).toBe(false);
    expect(c.storable(req())).toBe(true);
    c.store(req({ password: null }), null);
    expect(c.size).toBe(0);
    const u = new AuthCache(new FakeClock(), { keys: ['user'] });
    expect(u.storable(req({ password: null }))).toBe(true);
  });

  it('expires entries after the ttl; a store refreshes it, a lookup does not', () => {
    const clock = new FakeClock(1_000_000);
    const c = new AuthCache(clock, { keys: ['user'], ttlMs: 60_000 });
    c.store(req(), null);
    clock.t += 59_000;
    expect(c.lookup(req()).kind).toBe('hit');
    clock.t += 1_000;
    expect(c.lookup(req()).kind).toBe('miss');
    c.store(req(), null);
    clock.t += 30_000;
    c.store(req(), null);
    clock.t += 45_000;
    expect(c.lookup(req()).kind).toBe('hit');
  });

  it('evicts the least recently used entry beyond size', () => {
    const c = new AuthCache(new FakeClock(), { keys: ['user'], size: 2 });
    c.store(req({ user: 'a' }), null);
    c.store(req({ user: 'b' }), null);
    expect(c.lookup(req({ user: 'a' })).kind).toBe('hit'); // a is now the most recent
    c.store(req({ user: 'c' }), null);
    expect(c.size).toBe(2);
    expect(c.lookup(req({ user: 'b' })).kind).toBe('miss');
    expect(c.lookup(req({ user: 'a' })).kind).toBe('hit');
    expect(c.lookup(req({ user: 'c' })).kind).toBe('hit');
  });

  it('binds a user to the latest IP with limit (3proxy newest entry first)', () => {
    const c = new AuthCache(new FakeClock(), { keys: ['ip', 'user', 'limit'] });
    c.store(req({ clientAddress: '10.0.0.1' }), null);
    c.store(req({ clientAddress: '10.0.0.2' }), null);
    expect(c.lookup(req({ clientAddress: '10.0.0.2' })).kind).toBe('hit');
    expect(c.lookup(req({ clientAddress: '10.0.0.1' })).kind).toBe('limit');
  });

  it('keeps entries across a reconfigure with the same keys, drops them when keys change', () => {
    const c = new AuthCache(new FakeClock(), { keys: ['user'] });
    c.store(req(), null);
    c.configure({ keys: ['user'], ttlMs: 5_000 });
    expect(c.size).toBe(1);
    c.configure({ keys: ['user', 'ip'] });
    expect(c.size).toBe(0);
  });
});
