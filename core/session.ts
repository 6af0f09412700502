/**
 * Session: what 3proxy keeps in `struct clientparam`. One per request (HTTP keep-alive makes
 * several per connection, all sharing one `Connection`).
 *
 * Every field is assigned in the constructor, always in the same order, so V8 gives all
 * sessions one hidden class (the RxJS OperatorSubscriber rule). Add a field: give it a
 * default here, never attach it later.
 */
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyError } from './errors';
import type { SessionLimits } from './limits';
import type { ConnectionFilters } from './filters';

/** 3proxy's operation names (ACL `operations:` field, `%T`, access log). */
export const OPERATIONS = [
  'CONNECT',
  'BIND',
  'UDPASSOC',
  'ICMPASSOC',
  'HTTP_GET',
  'HTTP_PUT',
  'HTTP_POST',
  'HTTP_HEAD',
  'HTTP_CONNECT',
  'HTTP_OTHER',
  'FTP_GET',
  'FTP_PUT',
  'FTP_LIST',
  'FTP_DATA',
  'ADMIN',
  'DNSRESOLVE',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** What the client asked for; filled by `readRequest`, read by the ACL, connect and log. */
export interface RequestInfo {
  /** Parser that produced the request: http, socks4, socks5, fixed, pop3, ... */
  protocol: string;
  operation: Operation;
  /** Requested host name, or the address text when the client gave an address (3proxy keeps both). */
  host: string;
  /** Requested port (0 when not applicable). */
  port: number;
  /** Requested address when the client gave one, else null until resolved. */
  address: string | null;
  /** HTTP method and URL, or the protocol's request text; `%T` in the log. */
  text: string;
  method: string;
  url: string;
}

/** The client connection, shared by every Session read from it. */
export interface Connection {
  readonly id: number;
  readonly socket: Socket;
  /** Client address as seen by the ACL and logs (PROXY protocol may rewrite it). */
  clientAddress: string;
  clientPort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly acceptedAt: number;
  /** The newest Session on this connection: the request in flight (reload re-checks it, reloadReauth). */
  latest?: Session | undefined;
  /** Plugin filters attached at accept (core/filters.ts); null or absent: none, the fast paths. */
  filters?: ConnectionFilters | null;
}

/** The service a session runs in, as the pipeline sees it. */
export interface ServiceInfo {
  readonly name: string;
  readonly type: string;
  /** 3proxy's %N name: PROXY, SOCKS, TCPPM, ... */
  readonly logName: string;
  readonly port: number;
}

/**
 * How the protocol that read a request answers it. `readRequest` sets it; the pipeline compiler
 * calls `fail` when a step errors (operators never write replies themselves).
 */
export interface Responder {
  /** Tell the client the request failed, in the protocol's own form. Must not throw. */
  fail(session: Session, error: ProxyError): void | Promise<void>;
  /**
   * Tell the client the target is connected (SOCKS reply, `200 Connection established`).
   * Called by `connect` just before relaying; a no-op for port mappers.
   */
  connected(session: Session): void | Promise<void>;
}

export const NO_RESPONDER: Responder = {
  fail(session) {
    session.connection.socket.destroy();
  },
  connected() {},
};

/** How mapSockets relays bytes for this session (chosen by readRequest / connect). */
export type RelayMode = 'stream' | 'http' | 'none' | 'socks-bind' | 'socks-udp' | 'udp' | 'ftp' | 'ftp-http';

let nextSessionId = 1;

export class Session {
  readonly id: number;
  readonly connection: Connection;
  readonly service: ServiceInfo;
  /** Time the request started (ms since epoch); durations count from here. */
  readonly startedAt: number;
  readonly request: RequestInfo;
  /** Authenticated (or claimed) user name; null when none. */
  user: string | null;
  /** Password as the client sent it; dropped after authentication. */
  password: string | null;
  /** Name of the auth method that accepted the session. */
  authMethod: string | null;
  /** ACL rule index that matched (-1: none / empty ACL). */
  aclRule: number;
  /** Request not logged (ACL `nolog`). */
  nolog: boolean;
  /** Route chosen by authorize: parents (one per weight group), plain objects from the config. */
  parents: readonly unknown[];
  /** Outgoing source address (external / -e / extip). */
  externalAddress: string | null;
  /** Socket to the target (or first parent); owned by the session, destroyed at its end. */
  target: Socket | null;
  /** Address and port actually connected (%R, %r): the target or the first parent. */
  remoteAddress: string | null;
  remotePort: number;
  /** Bytes from the server to the client (%I) and from the client to the server (%O). */
  bytesIn: number;
  bytesOut: number;
  relayMode: RelayMode;
  /** HTTP exchange for non-CONNECT HTTP requests. */
  httpRequest: IncomingMessage | null;
  httpResponse: ServerResponse | null;
  /** Bytes the parser read past the request (sent to the target first). */
  head: Buffer | null;
  responder: Responder;
  /** Set when the session failed; the log records it. */
  error: ProxyError | null;
  /** Bandwidth buckets, counters and connlim slot (operators/limits); null = unlimited (pipe fast path). */
  limits: SessionLimits | null;
  private stateMap: Map<string, unknown> | null;
  /** Created on first use: most sessions of a port mapper never need one. */
  private controller: AbortController | null;
  /** `finished`, made on first use (a SOCKS connection's sessions never need one). */
  private finishedPromise: Promise<void> | null;
  private resolveFinished: () => void;
  private ended: boolean;

  constructor(connection: Connection, service: ServiceInfo, request: RequestInfo, responder: Responder = NO_RESPONDER) {
    this.id = nextSessionId++;
    this.connection = connection;
    connection.latest = this;
    this.service = service;
    this.startedAt = Date.now();
    this.request = request;
    this.user = null;
    this.password = null;
    this.authMethod = null;
    this.aclRule = -1;
    this.nolog = false;
    this.parents = [];
    this.externalAddress = null;
    this.target = null;
    this.remoteAddress = null;
    this.remotePort = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.relayMode = 'stream';
    this.httpRequest = null;
    this.httpResponse = null;
    this.head = null;
    this.responder = responder;
    this.error = null;
    this.limits = null;
    this.stateMap = null;
    this.controller = null;
    this.finishedPromise = null;
    this.resolveFinished = noop;
    this.ended = false;
  }

  /** Resolves once when the session's pipeline has finished (keep-alive parsers wait on it). */
  get finished(): Promise<void> {
    if (this.finishedPromise === null) {
      this.finishedPromise = this.ended
        ? RESOLVED
        : new Promise<void>((resolve) => {
            this.resolveFinished = resolve;
          });
    }
    return this.finishedPromise;
  }

  /** Per-plugin / per-operator state, keyed by `<plugin>.<name>` (made on first use). */
  get state(): Map<string, unknown> {
    if (this.stateMap === null) this.stateMap = new Map();
    return this.stateMap;
  }

  /** A state entry without making the map (hot paths that only look). */
  peekState(key: string): unknown {
    return this.stateMap === null ? undefined : this.stateMap.get(key);
  }

  /** True once close() ran. */
  get closed(): boolean {
    return this.controller !== null && this.controller.signal.aborted;
  }

  /** Aborted when the session ends; async steps (DNS, connect, auth backends) take this signal. */
  get abort(): AbortController {
    if (this.controller === null) this.controller = new AbortController();
    return this.controller;
  }

  /** Ends the session's own resources (target socket, pending async steps). Idempotent. */
  close(): void {
    // A preallocated reason: abort() without one builds a DOMException with a stack trace,
    // which showed up at ~3% of CPU in the connection-rate profile.
    if (this.controller !== null && !this.controller.signal.aborted) this.controller.abort(SESSION_CLOSED);
    else if (this.controller === null) this.controller = CLOSED_CONTROLLER;
    if (this.target !== null) {
      if (!this.target.destroyed) this.target.destroy();
      // A closed session no longer points at its socket. V8 keeps a socket object until a full GC
      // (its native handle is released then), and while it stays, every young object reachable
      // from it or from an older session survives the scavenges and is promoted: a tcppm
      // connection-per-request run promoted 6.0 KB per connection before this and the relay's
      // listener removal, 4.1 KB after (node-pipe: 2.5 KB), and spent a third less time in GC.
      this.target = null;
    }
    this.ended = true;
    this.resolveFinished();
  }
}

function noop(): void {}
const RESOLVED: Promise<void> = Promise.resolve();

/** The reason sessions are aborted with (cheap: no DOMException, no stack). */
const SESSION_CLOSED = Object.freeze({ name: 'AbortError', message: 'session closed' });
/** Shared by sessions closed before anything asked for a signal: already aborted. */
const CLOSED_CONTROLLER = new AbortController();
CLOSED_CONTROLLER.abort(SESSION_CLOSED);

/** A request description for services whose target is fixed (tcppm) or not yet known. */
export function emptyRequest(protocol: string, operation: Operation = 'CONNECT'): RequestInfo {
  return { protocol, operation, host: '', port: 0, address: null, text: '', method: '', url: '' };
}
