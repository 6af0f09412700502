/**
 * UdpServiceRuntime: a service on a UDP socket (udppm, dnspr), with ServiceRuntime's public
 * surface (start, stop, killAll, whenIdle, port, live, name) so Runtime treats both alike.
 *
 *   datagram from addr:port -> its association (new: Connection + first Session
 *   -> of(first).pipe(pipeline.run)) -> the reader takes datagrams from the association
 *
 * There is no client socket: `connection.socket` is an unconnected net.Socket placeholder, so
 * operators that destroy or inspect it stay harmless. The association (in first.state under
 * UDP_ASSOCIATION_KEY) is how readers and the 'udp' relay receive and answer datagrams.
 * An association ends when its pipeline ends; the next datagram from that client starts a new
 * one. A reader that handles each datagram alone (dnspr) calls `release()` so concurrent
 * datagrams from the same client port get their own association.
 */
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import { Socket, isIPv6 } from 'node:net';
import { of, type Subscription } from 'rxjs';
import type { Logger } from './logger';
import type { Env, ServiceTemplate } from './env';
import { compilePipeline, type CompiledPipeline } from './pipeline';
import { Session, emptyRequest, type Connection, type ServiceInfo } from './session';
import { proxyError, proxyErrorFrom, toProxyError } from './errors';
import { parseListen, type ListenAddress } from '../config/listen';
import { DEFAULT_MAXCONN, ServiceRuntime, type ServiceConfig } from './service';
import { LiveSet, type LiveConnection } from './live-set';

export const UDP_ASSOCIATION_KEY = 'udp.association';

let nextConnectionId = 1_000_000_000;

/** One client address:port of a UDP service: its inbox and its way back. */
export class UdpAssociation {
  private readonly queue: Buffer[] = [];
  private handler: ((datagram: Buffer) => void) | null = null;
  released = false;

  constructor(
    readonly key: string,
    readonly clientAddress: string,
    readonly clientPort: number,
    private readonly socket: DgramSocket,
    private readonly onRelease: (a: UdpAssociation) => void,
  ) {}

  /** Called by the runtime for each datagram from this client. */
  deliver(datagram: Buffer): void {
    if (this.handler !== null) this.handler(datagram);
    else if (this.queue.length < 64) this.queue.push(datagram); // bounded: UDP may drop
  }

  /** Delivers queued then future datagrams to `handler`; returns the way to stop. */
  receive(handler: (datagram: Buffer) => void): () => void {
    this.handler = handler;
    for (const d of this.queue.splice(0)) if (this.handler === handler) handler(d);
    return () => {
      if (this.handler === handler) this.handler = null;
    };
  }

  /** Sends a datagram to the client from the service's port. */
  send(datagram: Buffer): void {
    this.socket.send(datagram, this.clientPort, this.clientAddress);
  }

  /** Stops routing this client's datagrams here (the next one starts a new association). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

export class UdpServiceRuntime {
  readonly name: string;
  readonly template: ServiceTemplate;
  readonly info: ServiceInfo;
  readonly logger: Logger;
  readonly live = new LiveSet();
  readonly listenAddress: ListenAddress;
  private readonly pipeline: CompiledPipeline;
  private readonly maxconn: number;
  private readonly associations = new Map<string, UdpAssociation>();
  private socket: DgramSocket | null = null;
  /**
   * Always null: ServiceRuntime.adoptListener reads `old.server`, so a reload that pairs a TCP
   * service with this one finds nothing to adopt instead of crashing.
   */
  readonly server = null;
  private boundPort = 0;
  private stopping = false;

  constructor(
    readonly config: ServiceConfig,
    env: Env,
  ) {
    this.name = config.name;
    // Filters see TCP connections (3proxy's filter API has no datagram stage): refused, not ignored.
    if (Array.isArray(config['filters']) && config['filters'].length > 0) {
      throw proxyError('PRX_ERR_CONFIG_VALUE', `filters of UDP service "${config.name}"`, 'plugin filters run on TCP services only');
    }
    this.template = env.templates.require(config.type);
    this.listenAddress = parseListen(config.listen, this.template.defaultPort);
    this.maxconn = config.maxconn ?? DEFAULT_MAXCONN;
    this.logger = env.logger.child({ service: this.name });
    this.info = { name: this.name, type: config.type, logName: this.template.logName, port: this.listenAddress.port };
    const steps = config.pipeline ?? this.template.pipeline;
    this.pipeline = compilePipeline(steps, env, { service: { name: this.name, type: config.type, config } });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds the UDP socket; rejects with PRX_ERR_LISTEN naming the service and address. */
  async start(): Promise<void> {
    const host = this.listenAddress.host ?? '0.0.0.0';
    const socket = createSocket({ type: isIPv6(host) || host === '::' ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(proxyErrorFrom('PRX_ERR_LISTEN', err, this.name, this.listenAddress.text, (err as NodeJS.ErrnoException).code ?? err.message)));
      socket.bind({ address: host, port: this.listenAddress.port }, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    socket.on('error', (err) => this.logger.error({ err }, 'UDP socket error'));
    socket.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
    this.socket = socket;
    this.boundPort = socket.address().port;
    (this.info as { port: number }).port = this.boundPort;
    this.logger.info({ address: this.listenAddress.text, port: this.boundPort }, 'accepting datagrams');
  }

  private datagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.stopping || this.socket === null) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let assoc = this.associations.get(key);
    if (assoc === undefined) {
      // At maxconn, 3proxy's UDP services simply do not read; a datagram is dropped.
      if (this.live.size >= this.maxconn) return;
      assoc = new UdpAssociation(key, rinfo.address, rinfo.port, this.socket, (a) => {
        if (this.associations.get(a.key) === a) this.associations.delete(a.key);
      });
      this.associations.set(key, assoc);
      this.run(assoc);
    }
    assoc.deliver(msg);
  }

  private run(assoc: UdpAssociation): void {
    const local = this.socket!.address();
    const connection: Connection = {
      id: nextConnectionId++,
      socket: new Socket(),
      clientAddress: assoc.clientAddress,
      clientPort: assoc.clientPort,
      localAddress: local.address,
      localPort: local.port,
      acceptedAt: Date.now(),
    };
    const first = new Session(connection, this.info, emptyRequest(this.config.type, 'UDPASSOC'));
    first.state.set(UDP_ASSOCIATION_KEY, assoc);
    const entry: { connection: Connection; subscription: Subscription | null; current: Session | null } = { connection, subscription: null, current: first };
    const subscription = of(first)
      .pipe(this.pipeline.run)
      .subscribe({
        next: (s) => {
          entry.current = s;
        },
        error: (err: unknown) => {
          const e = toProxyError(err);
          this.logger[e.blame === 'internal' ? 'error' : 'debug']({ err: e, code: e.code, client: assoc.key }, 'association ended with error');
        },
      });
    entry.subscription = subscription;
    const link = this.live.add(entry as LiveConnection);
    subscription.add(() => {
      this.live.remove(link);
      entry.current = null;
      assoc.release();
      connection.socket.destroy();
      first.close();
    });
  }

  /**
   * Stops taking new associations. The socket is closed when the last association ends (their
   * replies leave through it), so the port is released then, not at once as for TCP.
   */
  async stopListening(): Promise<void> {
    this.stopping = true;
    void this.whenIdle().then(() => this.closeSocket());
    return Promise.resolve();
  }

  /**
   * Live reload: takes over `old`'s bound socket instead of binding again. New datagrams (and
   * new associations) run this service's pipeline; `old`'s associations keep replying through
   * the same socket. Returns false when `old` is not a bound UDP service.
   */
  adoptListener(old: unknown): boolean {
    if (!(old instanceof UdpServiceRuntime) || old.socket === null) return false;
    const socket = old.socket;
    old.socket = null;
    old.stopping = true;
    socket.removeAllListeners('message');
    socket.removeAllListeners('error');
    socket.on('error', (err) => this.logger.error({ err }, 'UDP socket error'));
    socket.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
    this.socket = socket;
    this.boundPort = old.boundPort;
    (this.info as { port: number }).port = this.boundPort;
    return true;
  }

  private async closeSocket(): Promise<void> {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** Graceful stop: let associations finish for up to `graceMs`, cut the rest, close the socket. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.live.size > 0 && graceMs > 0) await this.live.drained(graceMs);
    this.killAll();
    await this.closeSocket();
  }

  /** Cuts every live association now. */
  killAll(): void {
    this.live.killAll();
  }

  /** Cuts one association (admin "close session"). */
  kill(connectionId: number): boolean {
    return this.live.kill(connectionId);
  }

  /** Resolves when no association of this service is live. */
  whenIdle(): Promise<void> {
    return this.live.whenIdle();
  }
}

/**
 * The runtime for one service entry: UDP templates (`transport: udp`) get a UdpServiceRuntime.
 * It has ServiceRuntime's public surface, so Runtime and reload hold both under that type.
 */
export function createServiceRuntime(config: ServiceConfig, env: Env): ServiceRuntime {
  if (env.templates.require(config.type).transport === 'udp') return new UdpServiceRuntime(config, env) as unknown as ServiceRuntime;
  return new ServiceRuntime(config, env);
}
