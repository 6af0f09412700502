/**
 * The filter stages of one HTTP request, as one function the HTTP reader calls for every
 * request of a connection (keep-alive follow-ups included) and that any other producer of
 * HTTP request Sessions (e.g. requests decrypted inside a TLS MITM) calls the same way.
 *
 *   request        "METHOD URL HTTP/x.y"          rewritten -> method, URL, target re-derived
 *   headerClient   "Name: value\r\n" per header   rewritten -> the header list re-parsed
 *   headerServer   "HTTP/x.y CODE REASON\r\n" + headers (filterResponseHead, from the relay)
 *
 * All cost nothing for a connection without filters (`connection.filters` null).
 */
import type { IncomingMessage } from 'node:http';
import type { Session } from '../../core/session';
import { ProxyError, proxyError } from '../../core/errors';
import type { ConnectionFilters, StageOutcome } from '../../core/filters';
import type { BufferStage } from '../../core/filter-api';
import { HEADERS_KEY } from '../filterHeaders';
import type { Header } from '../filterHeaders/headers';
import { TARGET_KEY, addressOf, operationOf, splitHostPort, targetOf } from '../readRequest/http-request';

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/;
const STATUS_LINE = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/;

function headerText(headers: readonly Header[]): string {
  let text = '';
  for (const [n, v] of headers) text += `${n}: ${v}\r\n`;
  return text;
}

/** Header lines back to a list; lines without a colon are dropped (a filter's own mistake). */
function parseHeaderText(text: string): Header[] {
  const out: Header[] = [];
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  return out;
}

/** Runs one stage over latin1 text; the (possibly rewritten) text, or the stage's error. */
function runText(filters: ConnectionFilters, stage: BufferStage, session: Session, text: string): string | ProxyError {
  const buf = { data: Buffer.from(text, 'latin1'), resizable: true };
  const out = filters.run(stage, session, buf);
  return out ?? buf.data.toString('latin1');
}

/** A rewritten request line takes effect: method, URL, operation and target. */
function applyRequestLine(session: Session, line: string): StageOutcome {
  const m = REQUEST_LINE.exec(line.trim());
  if (m === null) return proxyError('PRX_ERR_HTTP_BAD_REQUEST', `filter rewrote the request line to "${line.slice(0, 200)}"`);
  const [, method, url] = m as unknown as [string, string, string];
  const r = session.request;
  r.method = method;
  r.url = url;
  r.text = line.trim();
  r.operation = operationOf(method);
  if (method === 'CONNECT') {
    const hp = splitHostPort(url, 0);
    if (hp === null || hp.port === 0) return proxyError('PRX_ERR_HTTP_BAD_URL', url.slice(0, 200));
    r.host = hp.host;
    r.port = hp.port;
    r.address = addressOf(hp.host);
    return null;
  }
  const headers = (session.state.get(HEADERS_KEY) as Header[] | undefined) ?? [];
  const host = headers.find(([n]) => n.toLowerCase() === 'host')?.[1];
  const target = targetOf({ url, headers: host === undefined ? {} : { host } } as IncomingMessage);
  if (target instanceof ProxyError) return target;
  r.host = target.host;
  r.port = target.port;
  r.address = addressOf(target.host);
  session.state.set(TARGET_KEY, target);
  return null;
}

/**
 * request + headerClient for an HTTP request Session (headers in state HEADERS_KEY). Null when
 * the request goes on, else the error to fail it with (REJECT: 503 page and an access record).
 */
export function filterHttpRequest(session: Session): StageOutcome {
  const filters = session.connection.filters;
  if (filters == null) return null;
  if (filters.has('request')) {
    const line = runText(filters, 'request', session, session.request.text);
    if (line instanceof ProxyError) return line;
    if (line !== session.request.text) {
      const err = applyRequestLine(session, line);
      if (err !== null) return err;
    }
  }
  const headers = session.state.get(HEADERS_KEY) as Header[] | undefined;
  if (filters.has('headerClient') && headers !== undefined) {
    const before = headerText(headers);
    const text = runText(filters, 'headerClient', session, before);
    if (text instanceof ProxyError) return text;
    if (text !== before) session.state.set(HEADERS_KEY, parseHeaderText(text));
  }
  return null;
}

/** The request stage for other protocols: `CONNECT host:port` (3proxy's text for SOCKS). Read-only. */
export function filterStreamRequest(session: Session): StageOutcome {
  const filters = session.connection.filters;
  if (filters == null || !filters.has('request')) return null;
  const r = session.request;
  const text = r.text !== '' ? r.text : `CONNECT ${r.host}:${r.port}`;
  const out = runText(filters, 'request', session, text);
  return out instanceof ProxyError ? out : null;
}

/** A response head as the filters see it and as they may have rewritten it. */
export interface ResponseHead {
  httpVersion: string;
  statusCode: number;
  statusMessage: string;
  /** Flat [name, value, name, value, ...] as node:http gives and takes them. */
  rawHeaders: string[];
}

/** headerServer over a response head (edited in place); null when the response goes on. */
export function filterResponseHead(session: Session, head: ResponseHead): StageOutcome {
  const filters = session.connection.filters;
  if (filters == null || !filters.has('headerServer')) return null;
  const pairs: Header[] = [];
  for (let i = 0; i + 1 < head.rawHeaders.length; i += 2) pairs.push([head.rawHeaders[i]!, head.rawHeaders[i + 1]!]);
  const before = `HTTP/${head.httpVersion} ${head.statusCode} ${head.statusMessage}\r\n${headerText(pairs)}`;
  const text = runText(filters, 'headerServer', session, before);
  if (text instanceof ProxyError) return text;
  if (text === before) return null;
  const nl = text.indexOf('\n');
  const m = STATUS_LINE.exec((nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, ''));
  if (m === null) return proxyError('PRX_ERR_HTTP_BAD_RESPONSE', 'a filter rewrote the status line into something else');
  head.httpVersion = m[1]!;
  head.statusCode = Number(m[2]);
  head.statusMessage = m[3] ?? '';
  head.rawHeaders = parseHeaderText(nl < 0 ? '' : text.slice(nl + 1)).flat();
  return null;
}
