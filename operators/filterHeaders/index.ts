/**
 * filterHeaders: rewrites the request headers of HTTP proxy sessions before they go upstream
 * (hop-by-hop removal, Proxy-* unless -T, Forwarded / Via / X-Forwarded-For per -a/-a1/-a2).
 *
 * The HTTP reader keeps the header list in `session.state` under HEADERS_KEY; sessions
 * without one (CONNECT tunnels, other protocols) pass through untouched.
 */
import { hostname } from 'node:os';
import { defineOperator, sessionStep } from '../../core/operator';
import type { Session } from '../../core/session';
import { filterRequestHeaders, type ForwardMode, type Header } from './headers';

/** session.state key of the request's header list (`Header[]`), set by readRequest{http}. */
export const HEADERS_KEY = 'http.headers';
/** session.state key set to true when the request is relayed as an Upgrade tunnel. */
export const TUNNEL_KEY = 'http.tunnel';

export interface FilterHeadersOptions {
  anonymous?: boolean;
  xForwardedFor?: 'random' | 'client';
  passProxyHeaders?: boolean;
}

/** 3proxy's precedence: -a (no client info) wins, then -a1/-a2, else Forwarded. */
export function forwardMode(o: FilterHeadersOptions): ForwardMode {
  if (o.anonymous === true) return 'anonymous';
  if (o.xForwardedFor !== undefined) return o.xForwardedFor;
  return 'forwarded';
}

export const filterHeaders = defineOperator<FilterHeadersOptions>({
  name: 'filterHeaders',
  schema: {
    $id: 'rx3proxy:operator/filterHeaders',
    type: 'object',
    description: 'Removes hop-by-hop headers and adds Forwarded / Via / X-Forwarded-For to HTTP requests.',
    additionalProperties: false,
    properties: {
      anonymous: { type: 'boolean', description: "Add no client information (3proxy -a; default: the service's options.anonymous)." },
      xForwardedFor: {
        type: 'string',
        enum: ['random', 'client'],
        description: "Add Via and X-Forwarded-For with a random (-a1) or the real (-a2) client address (default: the service's options).",
      },
      passProxyHeaders: { type: 'boolean', description: "Pass Proxy-* headers through (3proxy -T; default: the service's options)." },
    },
  },
  create(options, _env, ctx) {
    const svc = (ctx.service.config['options'] ?? {}) as FilterHeadersOptions;
    const merged: FilterHeadersOptions = { ...svc, ...options };
    const mode = forwardMode(merged);
    const passProxyHeaders = merged.passProxyHeaders === true;
    const host = hostname();
    return sessionStep((session: Session) => {
      const headers = session.state.get(HEADERS_KEY) as Header[] | undefined;
      if (headers === undefined) return session;
      const c = session.connection;
      session.state.set(
        HEADERS_KEY,
        filterRequestHeaders(headers, {
          mode,
          passProxyHeaders,
          tunnel: session.state.get(TUNNEL_KEY) === true,
          clientAddress: c.clientAddress,
          clientPort: c.clientPort,
          proxyName: `${host}:${c.localPort}`,
          httpVersion: session.httpRequest?.httpVersion ?? '1.1',
        }),
      );
      return session;
    });
  },
});
