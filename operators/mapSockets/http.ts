/**
 * The 'http' relay: one non-CONNECT proxy request sent upstream with http.request over the
 * service's keep-alive pool, the response streamed back through the client's ServerResponse.
 *
 *   client req body --pipe--> upstream request      (Content-Length / chunked: Node frames)
 *   upstream response --pipe--> client response     (hop-by-hop and Proxy-* headers dropped)
 *
 * Errors before the response started become 502/504 pages (the responder); after it started
 * the client connection is just closed. Byte counts come from the upstream socket's counters.
 */
import { Observable } from 'rxjs';
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Session } from '../../core/session';
import { ProxyError, proxyError } from '../../core/errors';
import { mapConnectError } from '../../core/net/dialer';
import { filterResponseHeaders, fromRaw, toRaw, type Header } from '../filterHeaders/headers';
import { HEADERS_KEY } from '../filterHeaders';
import { ANSWERED_KEY, TARGET_KEY, type HttpTarget } from '../readRequest/http-request';
import { UPSTREAM_KEY, routeFor, type HttpUpstream } from './http-upstream';
import type { RelayOptions } from './relay';

/** Upstream failures before a response: ProxyErrors from our dialers kept, others mapped. */
function upstreamError(err: unknown, target: string, responded: boolean): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code.startsWith('HPE_')) return proxyError('PRX_ERR_HTTP_BAD_RESPONSE', code);
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return responded ? proxyError('PRX_ERR_SERVER_RESET', code) : proxyError('PRX_ERR_HTTP_BAD_RESPONSE', `${code} before a response`);
  }
  return mapConnectError(err, target);
}

/** Outgoing headers: the filtered list, minus Expect (we answered 100 ourselves), plus route extras. */
function outgoingHeaders(session: Session, extra: readonly Header[]): string[] {
  const headers = (session.state.get(HEADERS_KEY) as Header[] | undefined) ?? fromRaw(session.httpRequest?.rawHeaders ?? []);
  const out = headers.filter(([n]) => n.toLowerCase() !== 'expect');
  return toRaw(extra.length === 0 ? out : [...out, ...extra]);
}

export function httpRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const req = session.httpRequest;
    const res = session.httpResponse;
    const up = session.state.get(UPSTREAM_KEY) as HttpUpstream | undefined;
    const target = session.state.get(TARGET_KEY) as HttpTarget | undefined;
    if (req === null || res === null || up === undefined || target === undefined) {
      sub.error(proxyError('PRX_ERR_RELAY_FAILED', 'not an HTTP proxy session'));
      return undefined;
    }
    const route = routeFor(session, up, target.path, target.absolute);
    let finished = false;
    let socket: Socket | null = null;
    let startOut = 0;
    let startIn = 0;
    let timer: NodeJS.Timeout | null = null;
    // Counted once: at the response's end, before the pool can hand the socket to another request.
    const count = (): void => {
      if (socket === null) return;
      session.bytesOut += socket.bytesWritten - startOut;
      session.bytesIn += socket.bytesRead - startIn;
      socket = null;
    };
    const settle = (err: ProxyError | null): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      count();
      if (err === null) {
        sub.next(session);
        sub.complete();
      } else {
        outgoing.destroy();
        sub.error(err);
      }
    };
    const outgoing: ClientRequest = httpRequest({
      host: route.host,
      port: route.port,
      method: req.method ?? 'GET',
      path: route.path,
      headers: outgoingHeaders(session, route.extra),
      agent: route.agent,
      setHost: false,
      ...(route.localAddress !== undefined ? { localAddress: route.localAddress } : {}),
      ...route.sessionOption,
    });
    outgoing.on('socket', (s: Socket) => {
      socket = s;
      startOut = s.bytesWritten;
      startIn = s.bytesRead;
      const note = (): void => {
        session.remoteAddress = s.remoteAddress ?? null;
        session.remotePort = s.remotePort ?? 0;
        if (session.externalAddress === null && s.localAddress !== undefined) session.externalAddress = s.localAddress;
      };
      if (s.remoteAddress !== undefined) note();
      else s.once('connect', note);
    });
    outgoing.on('error', (err) => settle(upstreamError(err, `${route.host}:${route.port}`, session.state.get(ANSWERED_KEY) === true)));
    outgoing.on('finish', () => {
      // The response clock starts once the whole request is sent (uploads may be slow).
      if (!finished && up.responseTimeoutMs > 0) {
        timer = setTimeout(() => settle(proxyError('PRX_ERR_HTTP_UPSTREAM_TIMEOUT')), up.responseTimeoutMs);
      }
    });
    outgoing.on('response', (r: IncomingMessage) => respond(session, r, outgoing, opts, up.passProxyHeaders, settle, () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    }, count));
    res.on('close', () => {
      if (!res.writableFinished) settle(proxyError('PRX_ERR_CLIENT_RESET', 'client closed during the response'));
    });
    req.on('error', (err) => settle(proxyError('PRX_ERR_CLIENT_RESET', (err as NodeJS.ErrnoException).code ?? err.message)));
    req.pipe(outgoing);
    return () => {
      if (!finished) {
        finished = true;
        if (timer !== null) clearTimeout(timer);
        count();
        outgoing.destroy();
      }
    };
  });
}

/** Streams the upstream response to the client; the session ends when the client got it all. */
function respond(
  session: Session,
  r: IncomingMessage,
  outgoing: ClientRequest,
  opts: RelayOptions,
  passProxyHeaders: boolean,
  settle: (err: ProxyError | null) => void,
  stopTimer: () => void,
  count: () => void,
): void {
  stopTimer();
  const res = session.httpResponse!;
  session.state.set(ANSWERED_KEY, true);
  res.writeHead(r.statusCode ?? 502, r.statusMessage, toRaw(filterResponseHeaders(fromRaw(r.rawHeaders), passProxyHeaders)));
  if (opts.idleMs > 0) {
    outgoing.setTimeout(opts.idleMs, () => settle(proxyError('PRX_ERR_IDLE_TIMEOUT', opts.idleMs)));
  }
  r.on('end', count);
  r.on('error', (err) => {
    res.destroy();
    settle(proxyError('PRX_ERR_SERVER_RESET', (err as NodeJS.ErrnoException).code ?? err.message));
  });
  r.on('aborted', () => {
    res.destroy();
    settle(proxyError('PRX_ERR_SERVER_RESET', 'response aborted'));
  });
  res.on('finish', () => settle(null));
  r.pipe(res);
}
