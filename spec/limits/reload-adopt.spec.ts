/** Reload hand-over of limits state: what an unchanged rule keeps, what a changed rule resets. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BandwidthLimiter, ConnectionLimiter, CounterStore } from '../../core/limits';
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
const clock = { now: () => 1000 };

describe('limits across a reload (adopt)', () => {
  it('keeps the bucket (and its debt) of an unchanged bandwidth rule only', () => {
    const old = new BandwidthLimiter([{ direction: 'in', rate: 8000 }, { direction: 'out', rate: 8000 }], clock);
    const bucket = old.select(req()).in[0]!;
    bucket.take(100_000);
    const next = new BandwidthLimiter([{ direction: 'in', rate: 8000 }, { direction: 'out', rate: 16000 }], clock);
    next.adopt(old);
    expect(next.select(req()).in[0]).toBe(bucket);
    expect(next.select(req()).in[0]!.balance()).toBeLessThan(0);
    expect(next.select(req()).out[0]).not.toBe(old.select(req()).out[0]);
  });

  it('keeps the slots of an unchanged connection limit, released by sessions from before', () => {
    const old = new ConnectionLimiter([{ rate: 1, per: 0 }], clock);
    const release = old.acquire(req())!;
    const next = new ConnectionLimiter([{ rate: 1, per: 0 }], clock);
    next.adopt(old);
    expect(next.acquire(req())).toBeNull();
    release();
    expect(next.acquire(req())).not.toBeNull();
    const changed = new ConnectionLimiter([{ rate: 2, per: 0 }], clock);
    changed.adopt(old);
    expect(changed.acquire(req())).not.toBeNull();
  });

  it('keeps counters by id with the new quota, id 0 only when unchanged, and ignores the stale file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-adopt-'));
    const file = join(dir, 'counters.json');
    const old = new CounterStore([{ id: 3, limitMB: 1 }, { comment: 'anon', limitMB: 1 }, { comment: 'changed', limitMB: 1 }], clock, file);
    const held = old.select(req()).in;
    for (const c of held) c.add(1000, clock.now());
    // Older than memory: must not overwrite the adopted totals.
    writeFileSync(file, JSON.stringify({ version: 1, counters: { '3': { bytes: 5, resetAt: 0, updatedAt: 0 } } }));
    const next = new CounterStore([{ id: 3, limitMB: 2 }, { comment: 'anon', limitMB: 1 }, { comment: 'changed', limitMB: 3 }], clock, file);
    next.adopt(old);
    next.load();
    const [byId, anon, changed] = next.select(req()).in;
    expect(byId).toBe(held[0]);
    expect(byId).toMatchObject({ bytes: 1000, limit: 2 * 1024 * 1024 });
    expect(anon).toBe(held[1]);
    expect(changed!.bytes).toBe(0);
    // A session from before the reload adds to what the new store saves.
    held[0]!.add(500, clock.now());
    expect(next.counter(3)!.bytes).toBe(1500);
  });

  it('keeps nothing when the counters file changed', () => {
    const old = new CounterStore([{ id: 3 }], clock, '/nonexistent/a.json');
    old.select(req()).in[0]!.add(10, clock.now());
    const next = new CounterStore([{ id: 3 }], clock, '/nonexistent/b.json');
    next.adopt(old);
    expect(next.counter(3)!.bytes).toBe(0);
  });
});
