/**
 * Happy Eyeballs units: RFC 8305 interleaving, the attempt delay, a failure starting the next
 * attempt at once, losers aborted, the session's signal cancelling everything.
 */
import { Socket } from 'node:net';
import { attemptDelayOf, interleaveFamilies, raceConnect, DEFAULT_ATTEMPT_DELAY_MS } from '../../core/net/happy-eyeballs';

type Addr = { address: string; family: 4 | 6 };
const a4 = (n: number): Addr => ({ address: `127.0.0.${n}`, family: 4 });
const a6 = (n: number): Addr => ({ address: `::${n}`, family: 6 });

/** Attempts that settle only when the test says so; records start order and aborts. */
function controlled() {
  const started: string[] = [];
  const aborted: string[] = [];
  const pending = new Map<string, { ok: () => Socket; fail: (e: Error) => void }>();
  const attempt = (a: Addr, signal: AbortSignal): Promise<Socket> =>
    new Promise((resolve, reject) => {
      started.push(a.address);
      signal.addEventListener('abort', () => {
        aborted.push(a.address);
        reject(new Error('aborted'));
      });
      pending.set(a.address, {
        ok: () => {
          const s = new Socket();
          resolve(s);
          return s;
        },
        fail: (e) => reject(e),
      });
    });
  return { started, aborted, pending, attempt };
}

describe('Happy Eyeballs', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('interleaves families starting with the preferred one', () => {
    expect(interleaveFamilies([a6(1), a6(2), a6(3), a4(1)]).map((a) => a.address)).toEqual(['::1', '127.0.0.1', '::2', '::3']);
    expect(interleaveFamilies([a4(1), a4(2), a6(1), a6(2)]).map((a) => a.address)).toEqual(['127.0.0.1', '::1', '127.0.0.2', '::2']);
    expect(interleaveFamilies([])).toEqual([]);
  });

  it('reads the option from the first layer that sets it', () => {
    expect(attemptDelayOf({}, { happyEyeballs: true })).toBe(DEFAULT_ATTEMPT_DELAY_MS);
    expect(attemptDelayOf({ happyEyeballs: true, attemptDelay: '100ms' })).toBe(100);
    expect(attemptDelayOf({ happyEyeballs: true }, { attemptDelay: '1s' })).toBe(1000);
    expect(attemptDelayOf({ happyEyeballs: false }, { happyEyeballs: true })).toBeUndefined();
    expect(attemptDelayOf(undefined, {})).toBeUndefined();
  });

  it('starts the next attempt after the delay; the winner aborts the loser', async () => {
    const c = controlled();
    const race = raceConnect([a6(1), a4(1)], c.attempt, 250);
    expect(c.started).toEqual(['::1']);
    await jest.advanceTimersByTimeAsync(249);
    expect(c.started).toEqual(['::1']);
    await jest.advanceTimersByTimeAsync(1);
    expect(c.started).toEqual(['::1', '127.0.0.1']);
    const s = c.pending.get('127.0.0.1')!.ok();
    const won = await race;
    expect(won.addr.address).toBe('127.0.0.1');
    expect(won.socket).toBe(s);
    expect(c.aborted).toEqual(['::1']);
  });

  it('a failed attempt starts the next at once; all failing reject with the last error', async () => {
    const c = controlled();
    const race = raceConnect([a6(1), a4(1), a6(2)], c.attempt, 10000);
    c.pending.get('::1')!.fail(new Error('refused 6'));
    await jest.advanceTimersByTimeAsync(0);
    expect(c.started).toEqual(['::1', '127.0.0.1']);
    c.pending.get('127.0.0.1')!.fail(new Error('refused 4'));
    await jest.advanceTimersByTimeAsync(0);
    c.pending.get('::2')!.fail(new Error('refused last'));
    await expect(race).rejects.toThrow('refused last');
    expect(c.aborted).toEqual([]);
  });

  it('the session signal aborts every running attempt', async () => {
    const c = controlled();
    const ctl = new AbortController();
    const race = raceConnect([a6(1), a4(1)], c.attempt, 100, ctl.signal);
    await jest.advanceTimersByTimeAsync(100);
    ctl.abort();
    await expect(race).rejects.toMatchObject({ code: 'PRX_ERR_SESSION_KILLED' });
    expect(c.aborted.sort()).toEqual(['127.0.0.1', '::1']);
  });

  it('a late second winner is destroyed', async () => {
    const c = controlled();
    const race = raceConnect([a6(1), a4(1)], c.attempt, 10);
    await jest.advanceTimersByTimeAsync(10);
    c.pending.get('::1')!.ok();
    const late = c.pending.get('127.0.0.1')!.ok();
    await race;
    await jest.advanceTimersByTimeAsync(0);
    expect(late.destroyed).toBe(true);
  });
});
