/**
 * ServiceRuntime: what a 3proxy service thread does (proxymain.c), on one net.Server.
 *
 *   listen -> accept(socket) -> [maxconn: queue] -> Connection + first Session
 *          -> of(session).pipe(pipeline.run).subscribe()
 *          -> teardown: client socket closed (after flushing a pending reply), sessions closed
 *
 * The subscription is the connection's lifetime: unsubscribing it (stop, kill from admin)
 * tears everything down, and so does the pipeline completing or failing.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { EMPTY, catchError, concatMap, defer, map, of, type Observable, type Subscription } from 'rxjs';
import type { Logger } from './logger';
import type { Env, ServiceTemplate } from './env';
import { compilePipeline, type CompiledPipeline, type StepSpec } from './pipeline';
import { Session, emptyRequest, type Connection, type ServiceInfo } from './session';
import { ProxyError, proxyErrorFrom, toProxyError } from './errors';
import { parseListen, type ListenAddress } from '../config/listen';
import { parseDuration } from '../config/units';
import { readProxyHeader } from './net/proxy-protocol';
import { TlsHandshakeError, acceptTls, tlsMaterialFor, type TlsListenerConfig, type TlsMaterial } from './tls';
import { GLOBAL_SLOTS_SYMBOL, type ConnectionSlots } from './limits/slots';
import { LiveSet, type LiveConnection } from './live-set';
import { ServiceFilters, type ConnectionFilters } from './filters';

export interface ServiceConfig {
  readonly name: string;
  readonly type: string;
  readonly listen: string;
  readonly maxconn?: number;
  readonly backlog?: number;
  readonly pipeline?: readonly StepSpec[];
  readonly [key: string]: unknown;
}

export type { LiveConnection } from './live-set';

let nextConnectionId = 1;

/**
 * The local address every accepted socket has, when the listener is bound to one IPv4 address
 * (or ::1): connections then need no getsockname() for it. Null for wildcards, names and paths.
 */
function knownLocalAddress(listen: ListenAddress): string | null {
  if (listen.path !== undefined) return null;
  const host = listen.host;
  return host === '::1' || (isIP(host) === 4 && host !== '0.0.0.0') ? host : null;
}

/**
 * An accepted client connection. The local port is the listener's and the local address is the
 * listener's when it is bound to one address; otherwise getsockname() runs the first time the
 * address is read (ACL `dst`-side checks, logs), not for every connection.
 */
class AcceptedConnection implements Connection {
  readonly id: number;
  readonly socket: Socket;
  clientAddress: string;
  clientPort: number;
  readonly localPort: number;
  readonly acceptedAt: number;
  latest?: Session | undefined;
  filters?: ConnectionFilters | null;
  private local: string | null;

  constructor(socket: Socket, localAddress: string | null, localPort: number) {
    this.id = nextConnectionId++;
    this.socket = socket;
    this.clientAddress = socket.remoteAddress ?? '';
    this.clientPort = socket.remotePort ?? 0;
    this.localPort = localPort !== 0 ? localPort : (socket.localPort ?? 0);
    this.acceptedAt = Date.now();
    this.filters = null;
    this.local = localAddress;
  }

  get localAddress(): string {
    if (this.local === null) this.local = this.socket.localAddress ?? '';
    return this.local;
  }
}

/** 3proxy's default maxconn in code (the man page says 100). */
export const DEFAULT_MAXCONN = 500;

/**
 * Closes a client socket without cutting a reply that is still being written: if bytes are
 * queued, end() and give them a moment (linger), else destroy now.
 */
export function closeSocket(socket: Socket, lingerMs = 2000): void {
  if (socket.destroyed) return;
  if (socket.writableLength > 0 && !socket.writableEnded) {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return;
  }
  if (socket.writableEnded && socket.writableLength > 0) {
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return;
  }
  socket.destroy();
}

export class ServiceRuntime {
  readonly name: string;
  readonly template: ServiceTemplate;
  readonly info: ServiceInfo;
  readonly logger: Logger;
  readonly live = new LiveSet();
  /** Sockets accepted since this service started listening (the admin's metrics read it). */
  accepted = 0;
  readonly listenAddress: ListenAddress;
  private readonly pipeline: CompiledPipeline;
  private readonly maxconn: number;
  private readonly waiting: Socket[] = [];
  private readonly maxWaiting: number;
  private readonly tls: TlsMaterial | null;
  private readonly localHost: string | null;
  /** The service's `filters:` once opened; null without any (nothing runs per connection). */
  private filters: ServiceFilters | null;
  private server: Server | null = null;
  private boundPort = 0;
  private stopping = false;
  private warnedFull = false;

  constructor(
    readonly config: ServiceConfig,
    private readonly env: Env,
  ) {
    this.name = config.name;
    this.template = env.templates.require(config.type);
    this.listenAddress = parseListen(config.listen, this.template.defaultPort);
    this.localHost = knownLocalAddress(this.listenAddress);
    this.maxconn = config.maxconn ?? DEFAULT_MAXCONN;
    // 3proxy's listen backlog default is 1 + maxconn/8; we hold that many accepted sockets.
    this.maxWaiting = config.backlog ?? 1 + Math.floor(this.maxconn / 8);
    this.tls = config['tls'] === undefined ? null : tlsMaterialFor(config['tls'] as TlsListenerConfig);
    this.logger = env.logger.child({ service: this.name });
    this.info = { name: this.name, type: config.type, logName: this.template.logName, port: this.listenAddress.port };
    const steps = config.pipeline ?? (this.template.pipeline);
    const service = { name: this.name, type: config.type, config };
    this.pipeline = compilePipeline(steps, env, { service });
    this.filters = ServiceFilters.open((config['filters'] as readonly string[] | undefined) ?? [], service, env);
  }

  get port(): number {
    return this.boundPort;
  }

  /** Starts listening; rejects with PRX_ERR_LISTEN naming the service and address. */
  async start(): Promise<void> {
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    server.on('error', (err) => this.logger.error({ err }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(proxyErrorFrom('PRX_ERR_LISTEN', err, this.name, this.listenAddress.text, (err as NodeJS.ErrnoException).code ?? err.message));
      };
      server.once('error', onError);
      const done = (): void => {
        server.removeListener('error', onError);
        resolve();
      };
      if (this.listenAddress.path !== undefined) server.listen({ path: this.listenAddress.path }, done);
      else server.listen({ host: this.listenAddress.host, port: this.listenAddress.port, backlog: 511 }, done);
    });
    this.server = server;
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr !== null ? (addr).port : 0;
    (this.info as { port: number }).port = this.boundPort;
    this.logger.info({ address: this.listenAddress.text, port: this.boundPort }, 'accepting connections');
  }

  /**
   * Live reload: takes over `old`'s listening socket instead of binding again, so the port never
   * refuses connections and is never bound twice. Clients `old` was holding at maxconn come too.
   * New connections run this service's pipeline; `old`'s live connections keep theirs.
   * Returns false (nothing taken) when `old` is not listening.
   */
  adoptListener(old: ServiceRuntime): boolean {
    const server = old.server;
    if (server === null) return false;
    old.server = null;
    old.stopping = true;
    if (old.live.size === 0) old.closeFilters();
    server.removeAllListeners('connection');
    server.removeAllListeners('error');
    server.on('connection', (socket: Socket) => this.accept(socket));
    server.on('error', (err) => this.logger.error({ err }, 'listener error'));
    this.server = server;
    this.boundPort = old.boundPort;
    (this.info as { port: number }).port = this.boundPort;
    for (const socket of old.waiting.splice(0)) if (!socket.destroyed) this.accept(socket);
    return true;
  }

  private accept(socket: Socket): void {
    // Every socket gets an error listener at once: an unhandled 'error' would crash the process.
    socket.on('error', noop);
    this.accepted++;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // Root `maxconn` (process-wide) after the service's own: a slot is taken only when both allow.
    const slots = this.globalSlots();
    const serviceFull = this.live.size >= this.maxconn || this.waiting.length > 0;
    if (serviceFull || (slots !== undefined && !slots.tryAcquire())) {
      const scope = this.live.size >= this.maxconn || slots === undefined ? 'service' : 'global';
      const maxconn = scope === 'service' ? this.maxconn : slots!.max;
      // 3proxy stops accepting at maxconn: clients wait in the backlog. We hold them (bounded).
      if (this.waiting.length >= this.maxWaiting) {
        this.logger.warn({ maxconn, scope }, 'too many connected clients, connection dropped');
        socket.destroy();
        return;
      }
      if (!this.warnedFull) this.logger.warn({ maxconn, scope }, scope === 'global' ? 'too many connected clients (global maxconn), waiting' : 'too many connected clients, waiting');
      this.warnedFull = true;
      if (!serviceFull) slots!.wait(this.serveWaiting);
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.run(socket);
  }

  private run(socket: Socket): void {
    const connection = new AcceptedConnection(socket, this.localHost, this.listenAddress.path === undefined ? this.boundPort : 0);
    const first = new Session(connection, this.info, emptyRequest(this.config.type));
    if (this.filters !== null && !this.attachFilters(first)) return;
    const entry: { connection: Connection; subscription: Subscription | null; current: Session | null } = {
      connection,
      subscription: null,
      current: first,
    };
    const subscription = this.firstSession(first)
      .subscribe({
        next: (s) => {
          entry.current = s;
        },
        error: (err: unknown) => this.connectionFailed(connection, err),
      });
    entry.subscription = subscription;
    const link = this.live.add(entry as LiveConnection);
    subscription.add(() => {
      this.live.remove(link);
      // A finished entry points at nothing young (see core/live-set.ts on why that matters).
      entry.current = null;
      // After a TLS handshake this is the TLS socket: closing it flushes and closes the raw one.
      closeSocket(connection.socket);
      first.close();
      connection.filters?.clear(this.logger);
      this.next();
      if (this.live.size === 0 && this.stopping) this.closeFilters();
      // Drops the connection's last pointer to a request (see Session.close on why it matters).
      connection.latest = undefined;
    });
  }

  /**
   * The connection's stream: the pipeline on the first session, after the PROXY header when
   * `options.proxyProtocol` is set (3proxy -H): the header's source becomes the client address
   * for the ACL and logs. With `tls:`, then the TLS handshake (the PROXY header comes in clear
   * before it); the pipeline reads the decrypted stream from connection.socket.
   */
  private firstSession(first: Session): Observable<Session> {
    const options = (this.config['options'] ?? {}) as { proxyProtocol?: boolean };
    const timeouts = (this.config['timeouts'] ?? {}) as { handshake?: string };
    const c = first.connection;
    const tls = this.tls;
    // Neither a PROXY header nor TLS in front: the pipeline starts on the connection at once.
    if (options.proxyProtocol !== true && tls === null) return this.pipeline.runFirst(first);
    const header =
      options.proxyProtocol !== true
        ? of(first)
        : defer(() => readProxyHeader(c.socket, parseDuration(timeouts.handshake ?? '15s'))).pipe(
            map((h) => {
              if (h.source !== null) {
                c.clientAddress = h.source.address;
                c.clientPort = h.source.port;
              }
              return first;
            }),
          );
    if (tls === null) return header.pipe(this.pipeline.run);
    return header.pipe(
      concatMap(() => defer(() => acceptTls(c.socket, tls, parseDuration(timeouts.handshake ?? '30s')))),
      map((socket) => {
        // Connection.socket is read-only for the pipeline; the service swaps in the TLS layer once.
        (c as { socket: Socket }).socket = socket;
        return first;
      }),
      catchError((err: unknown) => {
        if (!(err instanceof TlsHandshakeError)) throw err;
        this.logger.warn({ code: 'PRX_ERR_TLS_HANDSHAKE', reason: err.reason, client: `${c.clientAddress}:${c.clientPort}` }, 'TLS handshake with the client failed');
        return EMPTY;
      }),
      this.pipeline.run,
    );
  }

  /**
   * filter_client for a new connection. False when a filter dropped it (HANDLED, REJECT,
   * REMOVE or a throw): as in 3proxy the socket is closed before anything is read.
   */
  private attachFilters(first: Session): boolean {
    const c = first.connection;
    const attached = this.filters!.attach(first);
    if (!(attached instanceof ProxyError)) {
      c.filters = attached;
      return true;
    }
    const level = attached.code === 'PRX_ERR_FILTER_FAILED' ? 'error' : 'info';
    this.logger[level]({ code: attached.code, client: `${c.clientAddress}:${c.clientPort}` }, `connection dropped: ${attached.message}`);
    c.socket.destroy();
    this.next();
    return false;
  }

  /** filter_close, once, when the service has stopped and its last connection is gone. */
  private closeFilters(): void {
    const f = this.filters;
    this.filters = null;
    f?.close();
  }

  private connectionFailed(connection: Connection, err: unknown): void {
    const error = toProxyError(err);
    const level = error.blame === 'internal' ? 'error' : 'debug';
    this.logger[level]({ err: error, code: error.code, client: `${connection.clientAddress}:${connection.clientPort}` }, 'connection ended with error');
  }

  /** A connection ended: its global slot is free again; serve the oldest waiting client, then other services'. */
  private next(): void {
    const slots = this.globalSlots();
    slots?.release();
    this.serveWaiting();
    slots?.wake();
  }

  private globalSlots(): ConnectionSlots | undefined {
    return this.env.symbols.get(GLOBAL_SLOTS_SYMBOL) as ConnectionSlots | undefined;
  }

  /** Runs waiting clients while both this service's maxconn and the global one allow. */
  private readonly serveWaiting = (): void => {
    if (this.live.size >= this.maxconn) return;
    this.warnedFull = false;
    const slots = this.globalSlots();
    while (this.waiting.length > 0 && this.live.size < this.maxconn) {
      const socket = this.waiting[0]!;
      if (socket.destroyed) {
        this.waiting.shift();
        continue;
      }
      if (slots !== undefined && !slots.tryAcquire()) {
        this.warnedFull = true;
        slots.wait(this.serveWaiting);
        return;
      }
      this.waiting.shift();
      this.run(socket);
    }
    slots?.unwait(this.serveWaiting);
  };

  /** Stops accepting (the port is released at once). Live connections keep running. */
  async stopListening(): Promise<void> {
    this.stopping = true;
    for (const s of this.waiting.splice(0)) s.destroy();
    const server = this.server;
    this.server = null;
    if (this.live.size === 0) this.closeFilters();
    if (server === null) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Graceful stop: stop accepting, let live connections finish for up to `graceMs`, then cut
   * the rest. Resolves when nothing of this service is left.
   */
  async stop(graceMs: number): Promise<void> {
    const closed = this.stopListening();
    if (this.live.size > 0 && graceMs > 0) await this.live.drained(graceMs);
    this.killAll();
    await closed;
    this.closeFilters();
  }

  /** Cuts every live connection now. */
  killAll(): void {
    this.live.killAll();
  }

  /** Cuts one connection (admin "close session"). */
  kill(connectionId: number): boolean {
    return this.live.kill(connectionId);
  }

  /** Resolves when no connection of this service is live (tests and graceful stop wait on it). */
  whenIdle(): Promise<void> {
    return this.live.whenIdle();
  }
}

function noop(): void {}

export { ProxyError };
