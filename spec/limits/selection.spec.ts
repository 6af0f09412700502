import { BandwidthLimiter, ConnectionLimiter, CounterStore, periodChanged } from '../../core/limits';
import type { AclRequest } from '../../core/acl';

const req = (over: Partial<AclRequest> = {}): AclRequest => ({
  user: null,
  clientAddress: '10.0.0.1',
  targetHost: 'example.com',
  targetAddress: null,
  port: 80,
  operation: 'CONNECT',
  now: new Date(0),
  ...over,
});

describe('bandwidth selection', () => {
  const clock = { now: () => 0 };
  it('attaches every matching rule until an exempt one, per direction, sharing buckets', () => {
    const bw = new BandwidthLimiter(
      [
        { direction: 'in', rate: '1MB/s', match: { sources: ['10.0.0.0/30'] } },
        { direction: 'in', exempt: true, match: { ports: [443] } },
        { direction: 'in', rate: 64000 },
        { direction: 'out', rate: 300 },
      ],
      clock,
    );
    const a = bw.select(req());
    expect(a.in.map((b) => b.bitsPerSecond)).toEqual([8 * 1024 * 1024, 64000]);
    expect(a.out).toHaveLength(1);
    const b = bw.select(req({ clientAddress: '10.0.0.2' }));
    expect(b.in[0]).toBe(a.in[0]);
    expect(bw.select(req({ port: 443 })).in).toHaveLength(1);
    expect(bw.select(req({ clientAddress: '10.0.0.9', port: 443 })).in).toHaveLength(0);
  });

  it('gives each user a bucket with perUser, and caps the walk at 10', () => {
    const bw = new BandwidthLimiter([{ direction: 'out', rate: 1000, perUser: true }], clock);
    expect(bw.select(req({ user: 'a' })).out[0]).not.toBe(bw.select(req({ user: 'b' })).out[0]);
    expect(bw.select(req({ user: 'a' })).out[0]).toBe(bw.select(req({ user: 'a' })).out[0]);
    const many = new BandwidthLimiter(Array.from({ length: 12 }, () => ({ direction: 'in' as const, rate: 1000 })), clock);
    expect(many.select(req()).in).toHaveLength(10);
  });

  it('rejects a limiting rule without a usable rate', () => {
    expect(() => new BandwidthLimiter([{ direction: 'in', rate: 100 }], clock)).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }));
  });
});

describe('connection limits', () => {
  it('counts concurrent sessions (per 0) and frees slots on release', () => {
    const cl = new ConnectionLimiter([{ rate: 2, per: '0s' }], { now: () => 0 });
    const r1 = cl.acquire(req());
    const r2 = cl.acquire(req());
    expect(r1).not.toBeNull();
    expect(r2).not.toBeNull();
    expect(cl.acquire(req())).toBeNull();
    r1!();
    r1!();
    expect(cl.acquire(req())).not.toBeNull();
    expect(cl.acquire(req())).toBeNull();
  });

  it('allows N new connections per period with a decaying score, first match only', () => {
    const clock = { t: 0, now: () => clock.t };
    const cl = new ConnectionLimiter(
      [
        { exempt: true, match: { sources: ['10.0.0.9'] } },
        { rate: 3, per: '60s', key: 'source' },
        { rate: 1, per: '60s' },
      ],
      clock,
    );
    for (let i = 0; i < 3; i++) expect(cl.acquire(req())).not.toBeNull();
    expect(cl.acquire(req())).toBeNull();
    expect(cl.acquire(req({ clientAddress: '10.0.0.2' }))).not.toBeNull();
    for (let i = 0; i < 10; i++) expect(cl.acquire(req({ clientAddress: '10.0.0.9' }))).not.toBeNull();
    clock.t += 20_000; // one connection's worth decays
    expect(cl.acquire(req())).not.toBeNull();
    expect(cl.acquire(req())).toBeNull();
  });
});

describe('counters', () => {
  it('walks every matching rule per direction until an exempt one; all is in both', () => {
    const store = new CounterStore(
      [
        { id: 1, direction: 'in', limitMB: 1 },
        { id: 2, direction: 'all' },
        { id: 3, direction: 'out', exempt: true },
        { id: 4, direction: 'out' },
        { id: 5, direction: 'in' },
      ],
      { now: () => 0 },
      null,
    );
    const sel = store.select(req());
    expect(sel.in.map((c) => c.id)).toEqual([1, 2, 5]);
    expect(sel.out.map((c) => c.id)).toEqual([2]);
    expect(sel.in[0]!.limit).toBe(1024 * 1024);
  });

  it('resets a total when its period changes', () => {
    const t0 = new Date(2026, 0, 31, 23, 59, 0).getTime();
    const clock = { t: t0, now: () => clock.t };
    const store = new CounterStore([{ id: 1, every: 'monthly' }], clock, null);
    store.select(req())
      .in[0]!.add(100, clock.t);
    clock.t = t0 + 30_000;
    expect(store.select(req()).in[0]!.bytes).toBe(100);
    clock.t = t0 + 120_000;
    expect(store.select(req()).in[0]!.bytes).toBe(0);
    expect(periodChanged('weekly', new Date(2026, 10, 21).getTime(), new Date(2026, 10, 22).getTime())).toBe(true);
    expect(periodChanged('weekly', new Date(2026, 10, 22).getTime(), new Date(2026, 10, 28).getTime())).toBe(false);
    expect(periodChanged('never', 0, Date.now())).toBe(false);
  });
});
