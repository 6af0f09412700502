import { Subscription } from 'rxjs';
import { LiveSet, type LiveConnection } from '../../core/live-set';
import type { Connection } from '../../core/session';

/** A live entry whose subscription removes it from `live` when cut, as the services do. */
function entry(live: LiveSet, id: number): { e: LiveConnection; cut: () => boolean } {
  const subscription = new Subscription();
  const e: LiveConnection = { connection: { id } as Connection, subscription, current: null };
  const link = live.add(e);
  let removed = false;
  subscription.add(() => {
    removed = live.remove(link);
  });
  return { e, cut: () => removed };
}

const ids = (live: LiveSet): number[] => [...live].map((c) => c.connection.id);

describe('LiveSet', () => {
  it('counts, iterates in the order added, and removes from the head, middle and tail', () => {
    const live = new LiveSet();
    const links = [1, 2, 3, 4, 5].map((id) => live.add({ connection: { id } as Connection, subscription: new Subscription(), current: null }));
    expect(live.size).toBe(5);
    expect(ids(live)).toEqual([1, 2, 3, 4, 5]);
    expect(live.remove(links[2]!)).toBe(true);
    expect(live.remove(links[0]!)).toBe(true);
    expect(live.remove(links[4]!)).toBe(true);
    expect(ids(live)).toEqual([2, 4]);
    expect(live.size).toBe(2);
    // Removing twice changes nothing.
    expect(live.remove(links[2]!)).toBe(false);
    expect(live.size).toBe(2);
    const again = live.add({ connection: { id: 6 } as Connection, subscription: new Subscription(), current: null });
    expect(ids(live)).toEqual([2, 4, 6]);
    live.remove(links[1]!);
    live.remove(links[3]!);
    live.remove(again);
    expect(live.size).toBe(0);
    expect(ids(live)).toEqual([]);
  });

  it('lets a removed link go of its neighbours and its entry', () => {
    const live = new LiveSet();
    const a = live.add({ connection: { id: 1 } as Connection, subscription: new Subscription(), current: null });
    const b = live.add({ connection: { id: 2 } as Connection, subscription: new Subscription(), current: null });
    const c = live.add({ connection: { id: 3 } as Connection, subscription: new Subscription(), current: null });
    live.remove(b);
    expect([b.prev, b.next, b.entry]).toEqual([null, null, null]);
    expect(a.next).toBe(c);
    expect(c.prev).toBe(a);
  });

  it('killAll cuts every connection, even though each cut removes itself while iterating', () => {
    const live = new LiveSet();
    const all = [1, 2, 3, 4].map((id) => entry(live, id));
    live.killAll();
    expect(all.map((x) => x.cut())).toEqual([true, true, true, true]);
    expect(live.size).toBe(0);
  });

  it('kill cuts one connection by id and says whether it was live here', () => {
    const live = new LiveSet();
    const all = [7, 8, 9].map((id) => entry(live, id));
    expect(live.kill(8)).toBe(true);
    expect(all.map((x) => x.cut())).toEqual([false, true, false]);
    expect(ids(live)).toEqual([7, 9]);
    expect(live.kill(8)).toBe(false);
    expect(live.kill(42)).toBe(false);
  });

  it('whenIdle resolves when the last connection goes, drained(ms) also on its timeout', async () => {
    const live = new LiveSet();
    await expect(live.whenIdle()).resolves.toBeUndefined();
    const a = entry(live, 1);
    const b = entry(live, 2);
    let idle = false;
    const waiting = live.whenIdle().then(() => {
      idle = true;
    });
    a.e.subscription.unsubscribe();
    await Promise.resolve();
    expect(idle).toBe(false);
    b.e.subscription.unsubscribe();
    await waiting;
    expect(idle).toBe(true);

    entry(live, 3);
    jest.useFakeTimers();
    try {
      const timed = live.drained(50);
      jest.advanceTimersByTime(50);
      await expect(timed).resolves.toBeUndefined();
      expect(live.size).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });
});
