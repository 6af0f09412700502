/**
 * One client connection of the HTTP proxy: the parser's events for this socket become request
 * Sessions, and the handshake timer runs while no request is in progress.
 *
 *   idle (timer armed) --request--> in flight (timer off) --session.finished--> idle
 *   timer fires: nothing received since the last request -> close quietly;
 *                a partial request -> an errored Session (PRX_ERR_REQUEST_TIMEOUT, logged, 408)
 *   CONNECT / Upgrade / an errored request: the last Session of the connection
 */
import type { Subscriber } from 'rxjs';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { Socket } from 'node:net';
import { Session, emptyRequest, type Responder } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import type { HttpUpstream } from '../mapSockets/http-upstream';
import { buildSession, connectSession } from './http-session';
import { FTP_CONTEXT_KEY, type FtpContext } from '../mapSockets/ftp-context';
import { MITM_KEY } from './http-mitm';
import { filterHttpRequest } from '../filters/http';

/** The connection-side callbacks a socket's parser events are routed to. */
export interface ConnectionHooks {
  request(req: IncomingMessage, res: ServerResponse): void;
  connect(req: IncomingMessage, head: Buffer): void;
  upgrade(req: IncomingMessage, head: Buffer): void;
  clientError(err: NodeJS.ErrnoException): void;
}

/** What the reader built once per service. */
export interface ReaderContext {
  readonly server: Server;
  readonly hooks: WeakMap<Socket, ConnectionHooks>;
  readonly responder: Responder;
  readonly upstream: HttpUpstream;
  /** What ftp:// requests are fetched with (operators/mapSockets/ftp-http). */
  readonly ftp: FtpContext;
  readonly handshakeMs: number;
  /** userAuth: required (3proxy -u2): a request without a user name is a 407 at once. */
  readonly requireUser: boolean;
  /** llhttp error -> ProxyError. */
  readonly parseError: (err: NodeJS.ErrnoException) => ProxyError;
}

export class ConnectionReader implements ConnectionHooks {
  private readonly socket: Socket;
  private inFlight = 0;
  private mark = 0;
  /**
   * One timer for the connection's life, refreshed when it is armed again, instead of a new
   * Timeout after every keep-alive request and its removal at the next one. All of a keep-alive
   * request's timers together cost ~4 us of its ~90 us; this one alone made no difference
   * measurable on the bench (it keeps the connection at one Timeout object).
   */
  private timer: NodeJS.Timeout | null = null;
  /** The timer counts only while armed; a tick that fires while disarmed does nothing. */
  private armed = false;
  private done = false;

  constructor(
    private readonly rc: ReaderContext,
    private readonly first: Session,
    private readonly sub: Subscriber<Session>,
  ) {
    this.socket = first.connection.socket;
  }

  /** Hands the socket to the parser; returns the teardown. */
  start(): () => void {
    this.rc.hooks.set(this.socket, this);
    this.socket.once('close', this.onClose);
    this.rc.server.emit('connection', this.socket);
    this.arm();
    return () => this.stop();
  }

  request(req: IncomingMessage, res: ServerResponse): void {
    const s = buildSession(this.first, req, this.rc.responder, this.rc.upstream);
    s.httpResponse = res;
    if (s.relayMode === 'ftp-http') s.state.set(FTP_CONTEXT_KEY, this.rc.ftp);
    this.emit(s, s.error === null);
  }

  connect(req: IncomingMessage, head: Buffer): void {
    if (this.insideTunnel('CONNECT')) return;
    this.emit(connectSession(this.first, req, head, this.rc.responder), false);
  }

  upgrade(req: IncomingMessage, head: Buffer): void {
    if (this.insideTunnel('Upgrade')) return;
    this.emit(buildSession(this.first, req, this.rc.responder, this.rc.upstream, head), false);
  }

  /** CONNECT and Upgrade inside an intercepted tunnel are refused (501), not relayed in clear. */
  private insideTunnel(what: string): boolean {
    if (!this.first.state.has(MITM_KEY)) return false;
    this.failed(proxyError('PRX_ERR_MITM_UNSUPPORTED', what));
    return true;
  }

  clientError(err: NodeJS.ErrnoException): void {
    if (err.code === 'ECONNRESET' || this.socket.destroyed || !this.socket.writable) {
      this.onClose();
      this.socket.destroy();
    } else this.failed(this.rc.parseError(err));
  }

  private emit(s: Session, more: boolean): void {
    this.disarm();
    if (this.done) return;
    this.check(s);
    // Plugin filters see every request of the connection; a refusal ends it like a parse error.
    if (s.error === null && s.connection.filters != null) {
      s.error = filterHttpRequest(s);
      if (s.error !== null) more = false;
    }
    this.inFlight++;
    if (!more) this.stop();
    void s.finished.then(() => {
      this.inFlight--;
      this.arm();
    });
    this.sub.next(s);
    if (!more) this.sub.complete();
  }

  private failed(err: ProxyError): void {
    const s = new Session(this.first.connection, this.first.service, emptyRequest('http', 'HTTP_OTHER'), this.rc.responder);
    s.relayMode = 'none';
    s.error = err;
    this.emit(s, false);
  }

  /** Refusals decided on the request alone: -u2 without a user, a request aimed at ourselves (519). */
  private check(s: Session): void {
    if (s.error !== null) return;
    if (this.rc.requireUser && s.user === null) {
      s.error = proxyError('PRX_ERR_AUTH_REQUIRED');
      return;
    }
    const c = s.connection;
    if (s.request.port === c.localPort && s.request.address !== null && s.request.address === c.localAddress) {
      s.error = proxyError('PRX_ERR_REQUEST_RECURSION');
    }
  }

  private arm(): void {
    this.armed = false;
    if (this.done || this.inFlight > 0 || this.rc.handshakeMs <= 0) return;
    this.mark = this.socket.bytesRead;
    this.armed = true;
    if (this.timer === null) this.timer = setTimeout(this.onTimeout, this.rc.handshakeMs);
    else this.timer.refresh();
  }

  private disarm(): void {
    this.armed = false;
  }

  private readonly onTimeout = (): void => {
    // Disarmed since the last refresh (a request is in flight, or it was re-armed and refreshed
    // later): nothing to do. The next arm() refreshes it again.
    if (!this.armed || this.done) return;
    this.armed = false;
    if (this.socket.bytesRead !== this.mark) {
      this.failed(proxyError('PRX_ERR_REQUEST_TIMEOUT'));
      return;
    }
    // Idle between requests (nothing sent): close quietly, as there is nothing to log.
    this.stop();
    this.socket.destroy();
    this.sub.complete();
  };

  private readonly onClose = (): void => {
    this.stop();
    this.sub.complete();
  };

  private stop(): void {
    if (this.done) return;
    this.done = true;
    this.armed = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.rc.hooks.delete(this.socket);
    this.socket.removeListener('close', this.onClose);
  }
}
