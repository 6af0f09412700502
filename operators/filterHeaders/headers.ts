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

/** Names listed in Connection headers (lower case), which are hop-by-hop for this message. */
function connectionTokens(headers: readonly Header[]): Set<string> {
  const out = new Set<string>();
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const t of value.split(',')) {
      const token = t.trim().toLowerCase();
      if (token !== '') out.add(token);
    }
  }
  return out;
}

function stripHopByHop(headers: readonly Header[], keep: ReadonlySet<string>, passProxy: boolean): Header[] {
  const listed = connectionTokens(headers);
  const out: Header[] = [];
  for (const h of headers) {
    const lower = h[0].toLowerCase();
    if (keep.has(lower)) out.push(h);
    else if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    else if (!passProxy && lower.startsWith('proxy-')) continue;
    else out.push(h);
  }
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
