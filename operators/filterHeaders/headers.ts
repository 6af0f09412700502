/**
 * Header rewriting for the HTTP proxy, as pure functions over header lists so they can be
 * tested without sockets.
 *
 *   request:  hop-by-hop out (Connection + the names it lists, Proxy-Connection, Keep-Alive,
 *             TE, Trailer, Transfer-Encoding: we re-frame, Upgrade unless tunnelled),
 *             Proxy-* out unless passProxyHeaders (3proxy -T),
 *             then the client-information header by anonymity mode (3proxy -a/-a1/-a2)
 *   response: the same hop-by-hop set and Proxy-* (3proxy drops them in replies too)
 */
import { randomBytes } from 'node:crypto';

/** One header as received: original name case kept, value untouched. */
export type Header = readonly [name: string, value: string];

/** 3proxy's anonymity flags: default Forwarded, -a none, -a1 random X-Forwarded-For, -a2 real one. */
export type ForwardMode = 'forwarded' | 'anonymous' | 'random' | 'client';

export interface RequestFilterOptions {
  readonly mode: ForwardMode;
  /** 3proxy -T: Proxy-* headers are neither consumed nor stripped. */
  readonly passProxyHeaders: boolean;
  /** WebSocket / Upgrade requests relayed as a tunnel keep Upgrade and `Connection: upgrade`. */
  readonly tunnel: boolean;
  /** Client address and port (for=, X-Forwarded-For). */
  readonly clientAddress: string;
  readonly clientPort: number;
  /** This proxy as host:port (by=, Via). */
  readonly proxyName: string;
  /** Request's HTTP version, e.g. "1.1" (Via). */
  readonly httpVersion: string;
  /** Random source for -a1 (tests pass a fixed one). */
  readonly random?: () => string;
}

/** Always hop-by-hop (RFC 9110 7.6.1 plus the legacy Proxy-Connection). */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const TUNNEL_KEEP: ReadonlySet<string> = new Set(['upgrade']);
const NO_KEEP: ReadonlySet<string> = new Set();

/** Names a message's Connection headers list (lower case): one name, or a set of several. */
type Tokens = string | Set<string> | null;

/** Adds the names a Connection header lists (lower case), which are hop-by-hop for this message. */
function addTokens(into: Tokens, value: string): Tokens {
  // Usually one header with one token (`close`, `keep-alive`): no split, no Set.
  if (into === null && !value.includes(',')) {
    const token = value.trim().toLowerCase();
    return token === '' ? null : token;
  }
  const out = into instanceof Set ? into : new Set<string>(into === null ? [] : [into]);
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token !== '') out.add(token);
  }
  return out;
}

/** Whether a header (lower-case name) goes on: the hop-by-hop rules of stripHopByHop. */
function passes(lower: string, keep: ReadonlySet<string>, listed: Tokens, passProxy: boolean): boolean {
  if (keep.has(lower)) return true;
  if (HOP_BY_HOP.has(lower)) return false;
  if (listed !== null && (typeof listed === 'string' ? listed === lower : listed.has(lower))) return false;
  return passProxy || !lower.startsWith('proxy-');
}

/** One lower-casing per header; the Connection tokens are collected on the same pass. */
function stripHopByHop(headers: readonly Header[], keep: ReadonlySet<string>, passProxy: boolean): Header[] {
  const n = headers.length;
  const lower = new Array<string>(n);
  let listed: Tokens = null;
  for (let i = 0; i < n; i++) {
    const h = headers[i]!;
    const l = h[0].toLowerCase();
    lower[i] = l;
    if (l === 'connection') listed = addTokens(listed, h[1]);
  }
  const out: Header[] = [];
  for (let i = 0; i < n; i++) if (passes(lower[i]!, keep, listed, passProxy)) out.push(headers[i]!);
  return out;
}

/** A random public-looking IPv4 address for -a1 (first octet 1-223, never 10/127). */
export function randomAddress(): string {
  const b = randomBytes(4);
  let first = (b[0]! % 223) + 1;
  if (first === 10 || first === 127) first += 1;
  return `${first}.${b[1]!}.${b[2]!}.${b[3]! || 1}`;
}

/** RFC 7239 node: IPv6 in brackets, quoted because of the ':' before the port. */
function forwardedNode(address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `"${host}:${port}"`;
}

/** Request headers as they go upstream. */
export function filterRequestHeaders(headers: readonly Header[], o: RequestFilterOptions): Header[] {
  const out = stripHopByHop(headers, o.tunnel ? TUNNEL_KEEP : NO_KEEP, o.passProxyHeaders);
  // A tunnelled upgrade needs `Connection: Upgrade` end to end; any other token it listed is gone.
  if (o.tunnel) out.push(['Connection', 'Upgrade']);
  switch (o.mode) {
    case 'anonymous':
      return out;
    case 'forwarded':
      out.push(['Forwarded', `for=${forwardedNode(o.clientAddress, o.clientPort)};by="${o.proxyName}"`]);
      return out;
    case 'random':
    case 'client': {
      const addr = o.mode === 'client' ? o.clientAddress : (o.random ?? randomAddress)();
      out.push(['Via', `${o.httpVersion} ${o.proxyName} (rx3proxy)`]);
      out.push(['X-Forwarded-For', addr]);
      return out;
    }
  }
}

/** Response headers as they go back to the client (Transfer-Encoding: Node re-frames the body). */
export function filterResponseHeaders(headers: readonly Header[], passProxyHeaders: boolean): Header[] {
  return stripHopByHop(headers, NO_KEEP, passProxyHeaders);
}

/**
 * filterResponseHeaders on Node's flat rawHeaders, straight to the flat form writeHead takes
 * (no tuple per header on the relay's hot path). Same rules, same order.
 */
export function filterResponseRaw(raw: readonly string[], passProxyHeaders: boolean): string[] {
  const n = raw.length >> 1;
  const lower = new Array<string>(n);
  let listed: Tokens = null;
  for (let i = 0; i < n; i++) {
    const l = raw[2 * i]!.toLowerCase();
    lower[i] = l;
    if (l === 'connection') listed = addTokens(listed, raw[2 * i + 1]!);
  }
  const out: string[] = [];
  for (let i = 0; i < n; i++) if (passes(lower[i]!, NO_KEEP, listed, passProxyHeaders)) out.push(raw[2 * i]!, raw[2 * i + 1]!);
  return out;
}

/** Node's rawHeaders (flat name, value, name, value...) as a header list. */
export function fromRaw(raw: readonly string[]): Header[] {
  const out: Header[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** A header list in the flat form http.request and writeHead accept. */
export function toRaw(headers: readonly Header[]): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) out.push(n, v);
  return out;
}
