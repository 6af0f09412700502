/**
 * The 'http' relay: one non-CONNECT proxy request sent upstream with http.request over the
 * service's keep-alive pool, the response streamed back through the client's ServerResponse.
 *
 *   client req body --pipe--> upstream request      (Content-Length / chunked: Node frames)
 *   upstream response --pipe--> client response     (hop-by-hop and Proxy-* headers dropped)
 *
 * Errors before the response started become 502/504 pages (the responder); after it started
 * the client connection is just closed. Byte counts come from the upstream socket's counters.
 *
 * Sessions with bandwidth buckets or a quota (session.limits.needsChunkPath) replace both
 * pipe()s with throttle.ts's Pump, so they share the buckets and counters of SOCKS and tcppm
 * sessions; everything else keeps pipe(). A quota reached mid-response flushes the allowed
 * bytes, then ends the client connection (the client sees a short body) and fails with
 * PRX_ERR_QUOTA_EXCEEDED (3proxy 10).
 *
 * Plugin filters (connections with `connection.filters`): headerServer sees the response head
 * before it is written; with dataClient/dataServer the bodies take the Pump path with a chunk
 * inspector, and a body up to filterMaxSize is collected and filtered whole (resizable, sent
 * with its new Content-Length). Connections without filters run exactly the code above.
 */
import { Observable, concatMap } from 'rxjs';
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Session } from '../../core/session';
import { ProxyError, proxyError } from '../../core/errors';
import { mapConnectError } from '../../core/net/dialer';
import { filterResponseRaw, fromRaw, type Header } from '../filterHeaders/headers';
import { HEADERS_KEY } from '../filterHeaders';
import { ANSWERED_KEY, TARGET_KEY, type HttpTarget } from '../readRequest/http-request';
import { UPSTREAM_KEY, routeFor, type HttpUpstream } from './http-upstream';
import type { RelayOptions } from './relay';
import { Pump } from './throttle';
import { graceful } from './relay';
import type { SessionLimits } from '../../core/limits';
import { filterResponseHead, type ResponseHead } from '../filters/http';
import { ensureLimits, inspectorFor, needsDataFilters } from '../filters/data';

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
  const out: string[] = [];
  for (const [n, v] of headers) if (n.length !== 6 || n.toLowerCase() !== 'expect') out.push(n, v);
  for (const [n, v] of extra) out.push(n, v);
  return out;
}

/**
 * A request body read ahead for dataClient filters (3proxy filterMaxSize): `complete` when it
 * all fit and was filtered as one resizable buffer; else the part read before it overflowed.
 */
interface CollectedBody {
  readonly data: Buffer;
  readonly complete: boolean;
}

export function httpRelay(session: Session, opts: RelayOptions): Observable<Session> {
  const req = session.httpRequest;
  const max = opts.filterMaxSize ?? 0;
  if (req === null || max === 0 || session.connection.filters?.has('dataClient') !== true) return relayRequest(session, opts, null);
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (declared === undefined ? !chunked : Number(declared) === 0 || Number(declared) > max) return relayRequest(session, opts, null);
  return collectBody(session, req, max).pipe(concatMap((body) => relayRequest(session, opts, body)));
}

/** Reads the request body up to `max`; a complete one goes through the dataClient chain at once. */
function collectBody(session: Session, req: IncomingMessage, max: number): Observable<CollectedBody> {
  return new Observable<CollectedBody>((sub) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      const buf = { data: Buffer.concat(parts), resizable: complete };
      if (complete) {
        const err = session.connection.filters!.run('dataClient', session, buf);
        if (err !== null) return sub.error(err);
      }
      sub.next({ data: buf.data, complete });
      sub.complete();
    };
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      size += chunk.length;
      if (size > max) {
        req.pause();
        done(false);
      }
    };
    const onEnd = (): void => done(true);
    const onError = (err: Error): void => sub.error(proxyError('PRX_ERR_CLIENT_RESET', (err as NodeJS.ErrnoException).code ?? err.message));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    return () => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
    };
  });
}

/** The headers for a body the filters may have resized: its own Content-Length, no chunking. */
function withLength(headers: string[], length: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const n = headers[i]!.toLowerCase();
    if (n !== 'content-length' && n !== 'transfer-encoding') out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('Content-Length', String(length));
  return out;
}

function relayRequest(session: Session, opts: RelayOptions, body: CollectedBody | null): Observable<Session> {
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
    // Data filters take the same Pump path as throttling (neutral limits when there are none).
    const limits = session.limits?.needsChunkPath === true || needsDataFilters(session) ? ensureLimits(session) : null;
    let finished = false;
    let socket: Socket | null = null;
    let startOut = 0;
    let startIn = 0;
    let timer: NodeJS.Timeout | null = null;
    const t: Throttled | null = limits === null ? null : { limits, out: null, in: null, head: 0, complete: false, quota: null };
    // Counted once: at the response's end, before the pool can hand the socket to another request.
    let counted = false;
    const count = (): void => {
      if (counted) return;
      counted = true;
      const out = socket === null ? 0 : socket.bytesWritten - startOut;
      const inn = socket === null ? 0 : socket.bytesRead - startIn;
      socket = null;
      if (t === null) {
        session.bytesOut += out;
        session.bytesIn += inn;
        return;
      }
      // The pumps counted bodies live; the socket also carried heads and chunk framing. After a
      // cut the socket may have read ahead of what the client got: count only what was relayed.
      const liveOut = t.out?.bytes ?? 0;
      const liveIn = t.head + (t.in?.bytes ?? 0);
      session.bytesOut += Math.max(out, liveOut);
      t.limits.account('out', out - liveOut);
      if (t.complete) {
        session.bytesIn += Math.max(inn, liveIn);
        t.limits.account('in', inn - liveIn);
      } else session.bytesIn += liveIn;
    };
    const settle = (err: ProxyError | null): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      t?.out?.stop();
      t?.in?.stop();
      count();
      const e = t?.quota ?? err;
      if (e === null) {
        sub.next(session);
        sub.complete();
      } else {
        outgoing.destroy();
        sub.error(e);
      }
    };
    const outgoing: ClientRequest = httpRequest({
      host: route.host,
      port: route.port,
      // A filter may have rewritten the request line (operators/filters/http.ts).
      method: session.request.method !== '' ? session.request.method : (req.method ?? 'GET'),
      path: route.path,
      headers: body?.complete === true ? withLength(outgoingHeaders(session, route.extra), body.data.length) : outgoingHeaders(session, route.extra),
      agent: route.agent,
      setHost: false,
      ...(route.localAddress !== undefined ? { localAddress: route.localAddress } : {}),
      ...route.sessionOption,
    });
    /** Quota reached in either direction: the upstream goes, the client gets what was allowed. */
    const onQuota = (): void => {
      if (t === null || t.quota !== null) return;
      t.quota = proxyError('PRX_ERR_QUOTA_EXCEEDED', `${t.limits.countersIn.length + t.limits.countersOut.length} counter(s)`);
      t.out?.stop();
      t.in?.stop();
      count();
      outgoing.destroy();
      // Before the response the responder answers 503 itself.
      if (session.state.get(ANSWERED_KEY) !== true) return settle(null);
      const client = session.connection.socket;
      client.end(() => settle(null));
      graceful(client);
    };
    outgoing.on('socket', (s: Socket) => {
      // A chain's socket comes paused from its handshake reader, and a 'data' listener (the
      // response parser's, attached by now) does not restart a paused stream.
      if (s.isPaused()) s.resume();
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
    outgoing.on('error', (err) => {
      if (t?.quota != null) return;
      settle(upstreamError(err, `${route.host}:${route.port}`, session.state.get(ANSWERED_KEY) === true));
    });
    outgoing.on('finish', () => {
      // The response clock starts once the whole request is sent (uploads may be slow).
      if (!finished && up.responseTimeoutMs > 0) {
        timer = setTimeout(() => settle(proxyError('PRX_ERR_HTTP_UPSTREAM_TIMEOUT')), up.responseTimeoutMs);
      }
    });
    outgoing.on('response', (r: IncomingMessage) => respond(session, r, outgoing, opts, up.passProxyHeaders, settle, () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    }, count, t, onQuota));
    res.on('close', () => {
      if (!res.writableFinished) settle(proxyError('PRX_ERR_CLIENT_RESET', 'client closed during the response'));
    });
    req.on('error', (err) => settle(proxyError('PRX_ERR_CLIENT_RESET', (err as NodeJS.ErrnoException).code ?? err.message)));
    if (t === null) req.pipe(outgoing);
    else {
      t.limits.countedLive = true;
      // The request head (with its Content-Length) is already sent: body filters may not resize.
      t.out = new Pump(req, outgoing, 'out', t.limits.bucketsOut, t.limits, onQuota, inspectorFor(session, 'dataClient', false, (err) => settle(err)));
      if (body?.complete === true) {
        // Filtered as a whole already: it goes out as it is, counted like pumped bytes.
        t.out.bytes += body.data.length;
        t.limits.account('out', body.data.length);
        outgoing.end(body.data);
      } else {
        // What was read before the body overflowed filterMaxSize goes first, through the filters.
        if (body !== null) t.out.push(body.data);
        t.out.start();
      }
    }
    return () => {
      if (!finished) {
        finished = true;
        if (timer !== null) clearTimeout(timer);
        t?.out?.stop();
        t?.in?.stop();
        count();
        outgoing.destroy();
      }
    };
  });
}

/** Per-request state of a throttled or quota-limited HTTP relay. */
interface Throttled {
  readonly limits: SessionLimits;
  out: Pump | null;
  in: Pump | null;
  /** Response head bytes, counted when the head is relayed. */
  head: number;
  /** The upstream response ended normally: the socket's counts are exact. */
  complete: boolean;
  quota: ProxyError | null;
}

/** The size of a response head as the upstream sent it (status line, headers, blank line). */
function headSize(r: IncomingMessage): number {
  let n = `HTTP/${r.httpVersion} ${r.statusCode ?? 0} ${r.statusMessage ?? ''}\r\n\r\n`.length;
  const raw = r.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) n += Buffer.byteLength(raw[i]!, 'latin1') + Buffer.byteLength(raw[i + 1]!, 'latin1') + 4;
  return n;
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
  t: Throttled | null,
  onQuota: () => void,
): void {
  stopTimer();
  const res = session.httpResponse!;
  if (session.connection.filters == null) {
    // No filter on this connection: the head goes out as before, nothing is allocated for filters.
    session.state.set(ANSWERED_KEY, true);
    res.writeHead(r.statusCode ?? 502, r.statusMessage, filterResponseRaw(r.rawHeaders, passProxyHeaders));
    return relayBody(session, r, outgoing, opts, settle, count, t, onQuota, null);
  }
  const head: ResponseHead = { httpVersion: r.httpVersion, statusCode: r.statusCode ?? 502, statusMessage: r.statusMessage ?? '', rawHeaders: r.rawHeaders };
  const refused = filterResponseHead(session, head);
  if (refused !== null) {
    r.resume();
    return settle(refused);
  }
  relayBody(session, r, outgoing, opts, settle, count, t, onQuota, {
    head,
    send(raw) {
      session.state.set(ANSWERED_KEY, true);
      res.writeHead(head.statusCode, head.statusMessage, filterResponseRaw(raw, passProxyHeaders));
    },
  });
}

/** A filtered response's head, written when the body plan decides (after collecting, or at once). */
interface FilteredHead {
  readonly head: ResponseHead;
  send(raw: string[]): void;
}

/** Streams the body (the head is written, or `filtered` writes it); the session ends when the client got it all. */
function relayBody(
  session: Session,
  r: IncomingMessage,
  outgoing: ClientRequest,
  opts: RelayOptions,
  settle: (err: ProxyError | null) => void,
  count: () => void,
  t: Throttled | null,
  onQuota: () => void,
  filtered: FilteredHead | null,
): void {
  const res = session.httpResponse!;
  if (opts.idleMs > 0) {
    outgoing.setTimeout(opts.idleMs, () => settle(proxyError('PRX_ERR_IDLE_TIMEOUT', opts.idleMs)));
  }
  r.on('end', () => {
    if (t !== null) t.complete = true;
    count();
  });
  r.on('error', (err) => {
    if (t?.quota != null) return;
    res.destroy();
    settle(proxyError('PRX_ERR_SERVER_RESET', (err as NodeJS.ErrnoException).code ?? err.message));
  });
  r.on('aborted', () => {
    if (t?.quota != null) return;
    res.destroy();
    settle(proxyError('PRX_ERR_SERVER_RESET', 'response aborted'));
  });
  res.on('finish', () => settle(null));
  if (t === null) {
    filtered?.send(filtered.head.rawHeaders);
    return void r.pipe(res);
  }
  // The head is paid for like body bytes: it counts toward the quota and the buckets.
  t.head = headSize(r);
  t.limits.account('in', t.head);
  for (const b of t.limits.bucketsIn) b.take(t.head);
  const pump = (resizable: boolean): void => {
    t.in = new Pump(r, res, 'in', t.limits.bucketsIn, t.limits, onQuota, inspectorFor(session, 'dataServer', resizable, (err) => {
      res.destroy();
      settle(err);
    }));
    t.in.start();
  };
  if (filtered === null) return pump(false);
  const declared = Number(r.headers['content-length'] ?? NaN);
  const max = opts.filterMaxSize ?? 0;
  if (!session.connection.filters!.has('dataServer') || declared > max || max === 0) {
    filtered.send(filtered.head.rawHeaders);
    return pump(false);
  }
  bufferBody(r, max, filtered.head, session, (raw) => filtered.send(raw), settle, pump);
}

/**
 * 3proxy filterMaxSize for a response body: up to `max` bytes are collected and filtered as one
 * buffer that may change size (the head then carries the new Content-Length); a body that turns
 * out larger is sent as it came, each chunk filtered without resizing.
 */
function bufferBody(
  r: IncomingMessage,
  max: number,
  head: ResponseHead,
  session: Session,
  sendHead: (raw: string[]) => void,
  settle: (err: ProxyError | null) => void,
  pump: (resizable: boolean) => void,
): void {
  const res = session.httpResponse!;
  const parts: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    parts.push(chunk);
    size += chunk.length;
    if (size <= max) return;
    // Too large to buffer: what was collected goes first, through the filters, then the rest.
    r.removeListener('data', onData);
    r.removeListener('end', onEnd);
    r.pause();
    sendHead(head.rawHeaders);
    const first = { data: Buffer.concat(parts), resizable: false };
    const err = session.connection.filters!.run('dataServer', session, first);
    if (err !== null) {
      res.destroy();
      return settle(err);
    }
    res.write(first.data);
    pump(false);
  };
  const onEnd = (): void => {
    const body = { data: Buffer.concat(parts), resizable: true };
    const err = session.connection.filters!.run('dataServer', session, body);
    if (err !== null) return settle(err);
    // A body-less answer (HEAD, 204, 304) keeps its head as it was.
    sendHead(size === 0 && body.data.length === 0 ? head.rawHeaders : withLength(head.rawHeaders, body.data.length));
    res.end(body.data);
  };
  r.on('data', onData);
  r.on('end', onEnd);
}
