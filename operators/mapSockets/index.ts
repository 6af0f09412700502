/**
 * mapSockets: relays bytes between the client and the target until both are done.
 *
 *   relayMode 'stream' -> streamRelay (pipe both ways: the fast path), or throttledRelay when
 *                         session.limits has buckets or a quota (throttle.ts)
 *   relayMode 'http'   -> the HTTP relay registered by the proxy service (pipe(), or the same
 *                         throttle.ts pumps on the bodies when session.limits needs them)
 *   relayMode 'none'   -> nothing to relay (the request was answered locally)
 *   relayMode 'ftp'    -> ftppr's control relay with its data connections (ftp.ts)
 *   relayMode 'ftp-http' -> an ftp:// URL fetched for the HTTP proxy (ftp-http.ts)
 *
 * The choice is made once per session; bytes never go through an Observable per chunk.
 */
import { concatMap, of, type Observable } from 'rxjs';
import { defineOperator, withDirectStep, type DirectStepFn } from '../../core/operator';
import type { Session } from '../../core/session';
import { parseDuration, DURATION_PATTERN } from '../../config/units';
import { Registry } from '../../core/registry';
import { relayStream, streamRelay, type RelayOptions } from './relay';
import { httpRelay } from './http';
import { socksBindRelay } from './socks-bind';
import { socksUdpRelay } from './udp';
import { throttledRelay } from './throttle';
import { ftpRelay } from './ftp';
import { ftpHttpRelay } from './ftp-http';
import { ensureLimits, needsDataFilters } from '../filters/data';
import { parseSize } from '../../config/units';

export type Relay = (session: Session, opts: RelayOptions) => Observable<Session>;

/** Relays by mode; the HTTP proxy registers 'http', plugins may add more. */
export const relays = new Registry<Relay>('relay');
relays.register('stream', streamRelay);
relays.register('http', httpRelay);
relays.register('socks-bind', socksBindRelay);
relays.register('socks-udp', socksUdpRelay);
relays.register('ftp', ftpRelay);
relays.register('ftp-http', ftpHttpRelay);

export interface MapSocketsOptions {
  idleTimeout?: string;
  halfClose?: boolean;
}

export const mapSockets = defineOperator<MapSocketsOptions>({
  name: 'mapSockets',
  schema: {
    $id: 'rx3proxy:operator/mapSockets',
    type: 'object',
    description: 'Relays data between client and target (pipe fast path; throttle and filters when configured).',
    additionalProperties: false,
    properties: {
      idleTimeout: {
        type: 'string',
        pattern: DURATION_PATTERN,
        description: "Close the session after this long without data either way (default: the service's timeouts.idle, 10m).",
      },
      halfClose: {
        type: 'boolean',
        description: "Pass a FIN from one side on and keep the other direction open (default: the service's options.halfClose, true; 3proxy -C turns it off).",
      },
    },
  },
  create(options, env, ctx) {
    const cfg = ctx.service.config;
    const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
    const serviceOptions = (cfg['options'] ?? {}) as Record<string, unknown>;
    const relayOpts: RelayOptions = {
      idleMs: parseDuration(options.idleTimeout ?? timeouts['idle'] ?? '10m'),
      halfClose: options.halfClose ?? (serviceOptions['halfClose'] as boolean | undefined) ?? true,
      filterMaxSize: parseSize((env.config['filterMaxSize'] as string | number | undefined) ?? '1MB'),
    };
    const relayFor = (session: Session): Observable<Session> => {
      if (session.relayMode === 'none') return of(session);
      // Only sessions with a bandwidth limit or a quota leave the pipe() fast path ('http' decides per request).
      if (session.relayMode === 'stream' && session.limits?.needsChunkPath === true) return throttledRelay(session, relayOpts);
      // Only sessions with a plugin data filter pay for chunk inspection (the Pump path, neutral limits).
      if (session.relayMode === 'stream' && needsDataFilters(session)) {
        ensureLimits(session);
        return throttledRelay(session, relayOpts);
      }
      return relays.require(session.relayMode)(session, relayOpts);
    };
    // Callback form: the pipe() relay directly, everything else through its Observable.
    const direct: DirectStepFn = (session, k) => {
      if (session.relayMode === 'none') return session;
      if (
        session.relayMode === 'stream' &&
        session.limits?.needsChunkPath !== true &&
        !needsDataFilters(session) &&
        relays.require('stream') === streamRelay
      ) {
        return relayStream(session, relayOpts, (err) => k(err, session));
      }
      let last = session;
      const sub = relayFor(session).subscribe({
        next: (s) => {
          last = s;
        },
        error: (err: unknown) => k(err, session),
        complete: () => k(null, last),
      });
      return () => sub.unsubscribe();
    };
    return withDirectStep(concatMap(relayFor), direct);
  },
});
