/** Global maxconn slots: the cap, and one shared count across a reload (adopt). */
import { ConnectionSlots, Limits } from '../../core/limits';

describe('ConnectionSlots', () => {
  it('refuses at the cap and wakes waiting services, oldest first, as slots free', () => {
    const slots = new ConnectionSlots(2);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    const served: string[] = [];
    const a = (): void => {
      if (slots.tryAcquire()) served.push('a');
      slots.unwait(a);
    };
    const b = (): void => {
      if (slots.tryAcquire()) served.push('b');
      slots.unwait(b);
    };
    slots.wait(a);
    slots.wait(b);
    slots.release();
    slots.wake();
    expect(served).toEqual(['a']);
    slots.release();
    slots.wake();
    expect(served).toEqual(['a', 'b']);
    expect(slots.inUse).toBe(2);
  });

  it('after a reload, old and new connections share one count under the new cap', () => {
    const clock = { now: () => 0 };
    const old = new Limits({ maxconn: 2 }, '/tmp/x.yaml', clock);
    expect(old.slots.tryAcquire()).toBe(true);
    expect(old.slots.tryAcquire()).toBe(true);
    const next = new Limits({ maxconn: 3 }, '/tmp/x.yaml', clock);
    next.adopt(old);
    expect(next.slots.max).toBe(3);
    expect(next.slots.inUse).toBe(2);
    expect(next.slots.tryAcquire()).toBe(true);
    expect(next.slots.tryAcquire()).toBe(false);
    // A connection from before the reload ends: its slot is free for the new runtime.
    old.slots.release();
    expect(next.slots.tryAcquire()).toBe(true);
    expect(new Limits({}, '/tmp/x.yaml', clock).slots.max).toBe(Infinity);
  });
});
