/**
 * Happy Eyeballs (RFC 8305), beyond 3proxy: with both families in the answer, connection
 * attempts are raced instead of tried one by one until each times out.
 *
 *   addresses (policy order) -> interleave families, preferred first (section 4)
 *     -> attempt 1; every `attemptDelay` (default 250 ms) or as soon as the latest attempt
 *        fails, the next one starts (section 5) -> first connected socket wins, the others are
 *        aborted (their sockets destroyed) -> all failed: the last error
 *
 * We resolve names ourselves (nsrecord, nserver, cache), so Node's `autoSelectFamily`, which
 * races the answers of its own lookup, does not apply.
 */
import type { Socket } from 'node:net';
import { proxyError } from '../errors';
import { parseDuration } from '../../config/units';

export const DEFAULT_ATTEMPT_DELAY_MS = 250;

/** The attempt delay a service asked for (`happyEyeballs: true`, optional `attemptDelay`), or undefined when off. */
export function attemptDelayOf(...layers: readonly (Record<string, unknown> | undefined)[]): number | undefined {
  for (const o of layers) {
    const on = o?.['happyEyeballs'];
    if (on === false) return undefined;
    if (on === true) {
      const delay = layers.map((l) => l?.['attemptDelay']).find((d) => d !== undefined) as string | undefined;
      return delay === undefined ? DEFAULT_ATTEMPT_DELAY_MS : parseDuration(delay);
    }
  }
  return undefined;
}

/** RFC 8305 section 4: alternate the families, starting with the family of the first address. */
export function interleaveFamilies<T extends { readonly family: 4 | 6 }>(addrs: readonly T[]): T[] {
  const first = addrs[0]?.family;
  const same = addrs.filter((a) => a.family === first);
  const other = addrs.filter((a) => a.family !== first);
  const out: T[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    if (i < same.length) out.push(same[i]!);
    if (i < other.length) out.push(other[i]!);
  }
  return out;
}

/** One connection attempt; it must destroy its socket and reject when `signal` aborts. */
export type Attempt<T> = (addr: T, signal: AbortSignal) => Promise<Socket>;

/** Races `attempt` over `addrs` (already interleaved); `signal` (the session's) cancels them all. */
export function raceConnect<T>(addrs: readonly T[], attempt: Attempt<T>, delayMs: number, signal?: AbortSignal): Promise<{ socket: Socket; addr: T }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(proxyError('PRX_ERR_SESSION_KILLED', 'aborted before connect'));
      return;
    }
    if (addrs.length === 0) {
      reject(proxyError('PRX_ERR_DNS_NOT_FOUND', 'no address'));
      return;
    }
    const running: AbortController[] = [];
    let next = 0;
    let pending = 0;
    let done = false;
    let last: Error = proxyError('PRX_ERR_DNS_NOT_FOUND', 'no address');
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    function onAbort(): void {
      if (done) return;
      settle();
      for (const c of running) c.abort();
      reject(proxyError('PRX_ERR_SESSION_KILLED', 'aborted during connect'));
    }
    const start = (): void => {
      clearTimeout(timer);
      if (done || next >= addrs.length) return;
      const addr = addrs[next++]!;
      const ctl = new AbortController();
      running.push(ctl);
      pending++;
      attempt(addr, ctl.signal).then(
        (socket) => {
          pending--;
          // A second attempt that connected in the same tick as the winner: not needed.
          if (done) {
            socket.destroy();
            return;
          }
          settle();
          for (const c of running) if (c !== ctl) c.abort();
          resolve({ socket, addr });
        },
        (err: unknown) => {
          pending--;
          if (done) return;
          last = err instanceof Error ? err : new Error(String(err));
          if (next < addrs.length) start();
          else if (pending === 0) {
            settle();
            reject(last);
          }
        },
      );
      if (next < addrs.length) timer = setTimeout(start, delayMs);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    start();
  });
}
