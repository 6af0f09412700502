/**
 * Turns off V8's allocation-site pretenuring for the proxy process (the CLI does this once, at
 * start, before any traffic).
 *
 * V8 watches how many objects from each allocation site survive the young generation. When a
 * site's objects mostly survive, it "pretenures" the site: from then on its objects are
 * allocated straight in the old generation, and that decision is not taken back. A proxy sees
 * exactly the pattern that trips it: a burst of connections that stay open (idle keep-alive
 * clients, tunnels, a reconnect storm after a restart) while the code is still cold. The sites
 * that build sessions, requests and socket state are then pretenured, and every later short
 * request fills the old generation with garbage that only a full GC frees.
 *
 * Measured (2026-12-02, HTTP keep-alive requests through the proxy service, warmed up, one CPU):
 * after 1,000 idle SOCKS5 and 1,000 idle CONNECT tunnels opened on the fresh process (the bench's
 * memory test does this first), 7,584 req/s at 132 us of CPU per request; with pretenuring off,
 * the same sequence gave 10,698-11,080 req/s at 89-93 us, the rate of a process that never saw
 * the burst (10,964 req/s, 91 us). Without a burst, the flag changed nothing beyond the noise.
 *
 * The flag is V8's own (`node --no-allocation-site-pretenuring`). A process started with
 * `--allocation-site-pretenuring` or `--no-allocation-site-pretenuring` on the node command line
 * keeps what it asked for (Node does not accept V8 flags like these in NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';

const FLAG = 'allocation-site-pretenuring';

/** True when node was started with an explicit choice about pretenuring (either spelling). */
export function pretenuringChosen(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => arg.replace(/_/g, '-').replace(/^--no-/, '--') === `--${FLAG}`);
}

let applied = false;

/** Turns pretenuring off unless the process chose otherwise; returns whether it did. Once per process. */
export function disablePretenuring(execArgv: readonly string[] = process.execArgv): boolean {
  if (applied || pretenuringChosen(execArgv)) return false;
  applied = true;
  setFlagsFromString(`--no-${FLAG}`);
  return true;
}
