/**
 * Data filters on the relay (3proxy filter_data_cli / filter_data_srv): which sessions pay for
 * chunk inspection, and the per-chunk step they pay.
 *
 *   connection.filters has dataClient/dataServer -> the relay leaves pipe() for throttle.ts's
 *   Pump with a ChunkInspector; every other session keeps its path (no per-chunk work added)
 *
 * Streams (CONNECT tunnels, SOCKS, port mappers) announce no length, so a filter may resize a
 * chunk. HTTP bodies: see operators/mapSockets/http.ts (filterMaxSize buffering).
 */
import type { Session } from '../../core/session';
import type { BufferStage } from '../../core/filter-api';
import { SessionLimits } from '../../core/limits';
import type { ProxyError } from '../../core/errors';
import type { ChunkInspector } from '../mapSockets/throttle';

/** True when the session's relay must inspect chunks. */
export function needsDataFilters(session: Session): boolean {
  return session.connection.filters?.hasData === true;
}

/** The inspector for one direction, or null when no filter of that stage is attached. */
export function inspectorFor(session: Session, stage: BufferStage, resizable: boolean, fail: (err: ProxyError) => void): ChunkInspector | null {
  const filters = session.connection.filters;
  if (filters == null || !filters.has(stage)) return null;
  return {
    run(chunk) {
      const buf = { data: chunk, resizable };
      return filters.run(stage, session, buf) ?? buf.data;
    },
    fail,
  };
}

/** A session with data filters but no limits gets neutral ones, so the Pump path can carry it. */
export function ensureLimits(session: Session): SessionLimits {
  if (session.limits === null) session.limits = new SessionLimits([], [], [], [], noop, { now: Date.now });
  return session.limits;
}

function noop(): void {}
