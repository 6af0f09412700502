/**
 * `logDump` (3proxy `logdump IN [OUT]`): an interim access record each time a long session has
 * carried another IN bytes from the server or OUT bytes to it.
 *
 * Only sessions of a runtime whose root `logDump` is set pay for it, and not per chunk: one
 * timer per such session polls the target socket's kernel-side counters (bytesRead,
 * bytesWritten), which both the pipe() fast path and the throttled relay move. The record goes
 * through the session's own log sink, with the bytes carried so far (the final record, written
 * by the `log` step as usual, has the totals; 3proxy's interim records hold increments).
 */
import type { Socket } from 'node:net';
import type { Session } from '../session';
import { parseDuration, parseSize } from '../../config/units';

/** The root `logDump:` section. */
export interface LogDumpSection {
  readonly in?: string | number;
  readonly out?: string | number;
  /** How often the byte counts are looked at (default 1s). */
  readonly interval?: string | number;
}

export interface LogDumpConfig {
  /** Bytes from the server between records (Infinity: no in threshold). */
  readonly in: number;
  readonly out: number;
  readonly intervalMs: number;
}

/** Null when `logDump` is unset or both thresholds are 0. */
export function logDumpConfig(section: unknown): LogDumpConfig | null {
  if (section === undefined || section === null || typeof section !== 'object') return null;
  const s = section as LogDumpSection;
  const size = (v: string | number | undefined): number => {
    const n = v === undefined ? 0 : parseSize(v);
    return n > 0 ? n : Infinity;
  };
  const cfg = { in: size(s.in), out: size(s.out), intervalMs: Math.max(10, parseDuration(s.interval ?? '1s')) };
  return cfg.in === Infinity && cfg.out === Infinity ? null : cfg;
}

/**
 * Where a reused target socket (HTTP keep-alive upstream) stood when its previous session
 * ended, so the next session counts from there.
 */
const consumed = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Watches one session until it finishes; `write(view)` writes an interim record, `view` being
 * the session with its byte counts so far. Returns the stop function (also run on finish).
 */
export function watchLogDump(session: Session, cfg: LogDumpConfig, write: (view: Session) => void): () => void {
  let target: Socket | null = null;
  let baseRead = 0;
  let baseWritten = 0;
  let lastIn = 0;
  let lastOut = 0;
  const poll = (): void => {
    const t = session.target;
    if (t === null) return;
    if (t !== target) {
      target = t;
      const prev = consumed.get(t);
      baseRead = prev?.read ?? 0;
      baseWritten = prev?.written ?? 0;
    }
    // The relays add the socket's counts to session.bytesIn/Out only when they end: before that
    // the socket is ahead, after it both agree (max, so a poll in between counts nothing twice).
    const bytesIn = Math.max(session.bytesIn, t.bytesRead - baseRead);
    const bytesOut = Math.max(session.bytesOut, t.bytesWritten - baseWritten);
    if (bytesIn - lastIn < cfg.in && bytesOut - lastOut < cfg.out) return;
    lastIn = bytesIn;
    lastOut = bytesOut;
    write(Object.create(session, { bytesIn: { value: bytesIn }, bytesOut: { value: bytesOut } }) as Session);
  };
  const timer = setInterval(poll, cfg.intervalMs);
  timer.unref();
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    const t = session.target;
    if (t !== null && !t.destroyed) consumed.set(t, { read: t.bytesRead, written: t.bytesWritten });
  };
  void session.finished.then(stop);
  return stop;
}
