/**
 * The 'ftp' relay (ftppr after the login): the control connection is relayed command by
 * command, as 3proxy's ftpprchild does, and every data connection goes through the proxy.
 *
 *   PASV / EPSV       the proxy listens on the address the client reached it at and answers
 *                     227 / 229 with that address; only the client's own address may connect
 *   PORT / EPRT       the proxy connects to the client's address (never another host: no FTP
 *                     bounce) at the given port and answers 200
 *   RETR STOR APPE STOU LIST NLST MLSD
 *                     ACL check of FTP_GET / FTP_PUT / FTP_LIST (550 when refused), PASV or
 *                     EPSV to the server (always passive there), ACL check of FTP_DATA for the
 *                     server's data address, the command, then both data connections are
 *                     piped until both close, and the server's final reply is relayed.
 *                     One access record per transfer: the operation, the command as %T.
 *   anything else     sent to the server, its reply relayed (garbage gets the server's 500)
 *
 * Commands are handled one at a time (no ABOR during a transfer, as in 3proxy). The control
 * session's own record (CONNECT, user@host) is written by the pipeline's log step at the end.
 */
import { Observable } from 'rxjs';
import { createServer, connect as netConnect, isIP, type Server, type Socket } from 'node:net';
import type { Session, Operation, RequestInfo } from '../../core/session';
import { proxyError, toProxyError, type ProxyError } from '../../core/errors';
import { FtpLines, type FtpReply, formatPasv, parseEprt, parseHostPortTuple, passivePort, plainIpv4, replyMessage, replyText } from '../../core/net/ftp';
import { errorText, withDeadline } from '../readRequest/mail';
import { FTP_CONTEXT_KEY, type FtpContext } from './ftp-context';
import type { RelayOptions } from './relay';
import { Pump } from './throttle';
import type { SessionLimits } from '../../core/limits';

const TRANSFERS: Readonly<Record<string, Operation>> = {
  RETR: 'FTP_GET',
  STOR: 'FTP_PUT',
  APPE: 'FTP_PUT',
  STOU: 'FTP_PUT',
  LIST: 'FTP_LIST',
  NLST: 'FTP_LIST',
  MLSD: 'FTP_LIST',
};

/** A data connection towards the client, prepared by PASV/EPSV or PORT/EPRT. */
interface ClientData {
  /** The connected socket (passive: once the client connected). */
  socket(): Promise<Socket>;
  close(): void;
}

export function ftpRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const ctx = session.state.get(FTP_CONTEXT_KEY) as FtpContext | undefined;
    if (session.target === null || ctx === undefined) {
      sub.error(proxyError('PRX_ERR_RELAY_FAILED', 'not an ftppr session'));
      return undefined;
    }
    const relay = new ControlRelay(session, session.target, ctx, opts);
    relay.run().then(
      () => {
        sub.next(session);
        sub.complete();
      },
      (err: unknown) => sub.error(toProxyError(err)),
    );
    return () => relay.stop();
  });
}

/**
 * Both ends of a transfer piped into each other; resolves once both sockets are closed. With
 * bandwidth rules or a quota on the session, throttle.ts's Pump replaces pipe(): the data
 * shares the buckets and counters of every other session (counted live, so `record` does not).
 */
export function pipeData(a: Socket, b: Socket, idleMs: number, limits: SessionLimits | null = null): Promise<{ in: number; out: number; error: ProxyError | null }> {
  return new Promise((resolve) => {
    let open = 2;
    let error: ProxyError | null = null;
    const paced = limits?.needsChunkPath === true ? limits : null;
    const pumps: Pump[] = [];
    // Fresh sockets: everything they carried belongs to this transfer (the server may have
    // sent bytes before the pipe started, already counted in bytesRead).
    const closed = (): void => {
      if (--open > 0) return;
      for (const p of pumps) p.stop();
      resolve({ in: b.bytesRead, out: b.bytesWritten, error });
    };
    const onQuota = (): void => {
      error ??= proxyError('PRX_ERR_QUOTA_EXCEEDED', 'FTP data');
      a.destroy();
      b.destroy();
    };
    const wire = (s: Socket, other: Socket, code: 'PRX_ERR_CLIENT_RESET' | 'PRX_ERR_SERVER_RESET'): void => {
      s.on('error', (e: NodeJS.ErrnoException) => {
        error ??= proxyError(code, e.code ?? e.message);
        other.destroy();
      });
      s.once('close', closed);
      if (idleMs > 0) {
        s.setTimeout(idleMs, () => {
          error ??= proxyError('PRX_ERR_IDLE_TIMEOUT', idleMs);
          s.destroy();
          other.destroy();
        });
      }
      if (paced === null) {
        s.pipe(other);
        return;
      }
      const dir = s === a ? 'out' : 'in';
      const pump = new Pump(s, other, dir, dir === 'out' ? paced.bucketsOut : paced.bucketsIn, paced, onQuota);
      pumps.push(pump);
      pump.start();
    };
    if (paced !== null) paced.countedLive = true;
    wire(a, b, 'PRX_ERR_CLIENT_RESET');
    wire(b, a, 'PRX_ERR_SERVER_RESET');
    // A data connection carries one direction: the server's FIN means it is done with it (the
    // dialed socket is half-open, so ours follows explicitly).
    b.once('end', () => b.end());
    // Either side closing ends the transfer: the other gets what is queued for it and is closed,
    // without waiting for a FIN it may never send (a half-open client after RETR; a server still
    // sending after the client aborted, which the close resets).
    follow(b, a);
    follow(a, b);
  });
}

function follow(gone: Socket, other: Socket): void {
  gone.once('close', () => {
    if (other.destroyed) return;
    if (other.writableFinished) other.destroy();
    else {
      other.end();
      other.once('finish', () => other.destroy());
    }
  });
}

class ControlRelay {
  private readonly client: FtpLines;
  private readonly server: FtpLines;
  private data: ClientData | null = null;
  /** Both ends of the transfer in progress: destroyed if the session ends under it. */
  private readonly moving = new Set<Socket>();
  /** The client data connection the transfer in progress took over. */
  private using: ClientData | null = null;
  private readonly startIn: number;
  private readonly startOut: number;
  private busy = false;
  private failure: ProxyError | null = null;
  private stopped = false;

  constructor(
    private readonly session: Session,
    private readonly target: Socket,
    private readonly ctx: FtpContext,
    private readonly opts: RelayOptions,
  ) {
    this.client = new FtpLines(session.connection.socket, () => proxyError('PRX_ERR_CLIENT_RESET', 'control connection closed'));
    this.server = new FtpLines(target, () => proxyError('PRX_ERR_SERVER_RESET', 'control connection closed'), 'PRX_ERR_FTP_UPSTREAM');
    this.startIn = target.bytesRead;
    this.startOut = target.bytesWritten;
    target.once('close', this.onServerGone);
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        const line = await this.nextCommand();
        if (line === null) break;
        this.busy = true;
        if (await this.handle(line)) break;
        this.busy = false;
      }
    } catch (err) {
      // The responder answers the client (421) and closes it.
      this.stop(false);
      throw err;
    }
    this.stop(true);
  }

  stop(endClient = false): void {
    if (this.stopped) return;
    this.stopped = true;
    this.data?.close();
    this.data = null;
    this.using?.close();
    this.using = null;
    for (const sock of this.moving) sock.destroy();
    this.moving.clear();
    this.session.bytesIn += this.target.bytesRead - this.startIn;
    this.session.bytesOut += this.target.bytesWritten - this.startOut;
    this.target.removeListener('close', this.onServerGone);
    const c = this.session.connection.socket;
    c.setTimeout(0);
    c.removeListener('timeout', this.onIdle);
    this.client.release();
    this.server.release();
    if (endClient && !c.destroyed) c.end();
  }

  /** A server that hangs up between commands: tell the client, as a server would (421). */
  private readonly onServerGone = (): void => {
    if (this.busy || this.stopped) return;
    this.client.write('421 Server closed the connection\r\n');
    this.session.connection.socket.end();
  };

  private readonly onIdle = (): void => {
    this.failure ??= proxyError('PRX_ERR_IDLE_TIMEOUT', this.opts.idleMs);
    this.client.write('421 Idle timeout\r\n');
    this.session.connection.socket.destroySoon();
  };

  /** The next command; null when the client closed the control connection. */
  private async nextCommand(): Promise<string | null> {
    const c = this.session.connection.socket;
    if (this.opts.idleMs > 0) {
      c.setTimeout(this.opts.idleMs);
      c.on('timeout', this.onIdle);
    }
    try {
      return await this.client.line();
    } catch (err) {
      if (this.failure !== null) throw this.failure;
      if ((err as ProxyError).code === 'PRX_ERR_CLIENT_RESET') return null;
      throw err;
    } finally {
      c.setTimeout(0);
      c.removeListener('timeout', this.onIdle);
    }
  }

  /** One command; true when the session is over (QUIT). */
  private async handle(line: string): Promise<boolean> {
    const sp = line.indexOf(' ');
    const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1).trim();
    const op = TRANSFERS[cmd];
    if (op !== undefined) {
      await this.transfer(op, line, cmd, arg);
      return false;
    }
    switch (cmd) {
      case 'PASV':
      case 'EPSV':
        if (cmd === 'EPSV' && arg.toUpperCase() === 'ALL') this.client.write('200 EPSV ALL ok\r\n');
        else await this.passive(cmd === 'EPSV');
        return false;
      case 'PORT':
      case 'EPRT':
        await this.active(cmd, arg);
        return false;
      case 'USER':
      case 'PASS':
        this.client.write('503 Already logged in\r\n');
        return false;
      case 'AUTH':
        this.client.write('534 TLS is not available through this gateway\r\n');
        return false;
      default: {
        const r = await this.serverReply(() => this.server.command(line));
        this.client.write(replyText(r));
        return cmd === 'QUIT';
      }
    }
  }

  private serverReply<T>(p: () => Promise<T>): Promise<T> {
    return withDeadline(p(), this.ctx.replyTimeoutMs, () => proxyError('PRX_ERR_FTP_UPSTREAM', 'no reply in time'));
  }

  /** PASV / EPSV from the client: a listener on the address the client reached us at. */
  private async passive(extended: boolean): Promise<void> {
    this.data?.close();
    this.data = null;
    const conn = this.session.connection;
    const v4 = plainIpv4(conn.localAddress);
    if (!extended && v4 === null) {
      this.client.write('425 PASV needs IPv4: use EPSV\r\n');
      return;
    }
    let data: PassiveData;
    try {
      data = await PassiveData.open(conn.localAddress, conn.clientAddress);
    } catch (err) {
      this.client.write(`425 ${errorText(toProxyError(err))}\r\n`);
      return;
    }
    this.data = data;
    this.client.write(extended ? `229 Entering Extended Passive Mode (|||${data.port}|)\r\n` : `${formatPasv(v4!, data.port)}\r\n`);
  }

  /** PORT / EPRT: the proxy connects to the client at once, as 3proxy does; never to another host. */
  private async active(cmd: string, arg: string): Promise<void> {
    this.data?.close();
    this.data = null;
    const where = cmd === 'PORT' ? parseHostPortTuple(arg) : parseEprt(arg);
    if (where === null) {
      this.client.write(`501 Bad ${cmd} argument\r\n`);
      return;
    }
    const conn = this.session.connection;
    try {
      const s = await connectTo(conn.clientAddress, where.port, conn.localAddress, this.ctx.replyTimeoutMs);
      this.data = { socket: () => Promise.resolve(s), close: () => s.destroy() };
      this.client.write(`200 ${cmd} ok\r\n`);
    } catch (err) {
      this.client.write(`425 ${errorText(toProxyError(err))}\r\n`);
    }
  }

  private async transfer(operation: Operation, line: string, cmd: string, arg: string): Promise<void> {
    const s = this.session;
    const request: RequestInfo = { ...s.request, operation, text: line, method: cmd, url: arg };
    const data = this.data;
    this.data = null;
    if (data === null) {
      this.client.write('425 Use PORT or PASV first\r\n');
      return;
    }
    this.using = data;
    try {
      await this.transferOn(data, request, line);
    } finally {
      this.using = null;
      this.moving.clear();
    }
  }

  private async transferOn(data: ClientData, request: RequestInfo, line: string): Promise<void> {
    const s = this.session;
    const operation = request.operation;
    const refuse = (err: ProxyError, reply: string): void => {
      data.close();
      this.client.write(`${reply} ${errorText(err)}\r\n`);
      this.ctx.record(s, request, { in: 0, out: 0 }, err);
    };
    const denied = this.ctx.check(s, operation, s.request.host, s.request.port);
    if (denied !== null) return refuse(denied, '550');
    let serverData: Socket;
    try {
      const peer = this.target.remoteAddress ?? '';
      const host = plainIpv4(peer) ?? peer;
      const port = await this.serverReply(() => passivePort(this.server, isIP(host) === 6));
      const dataDenied = this.ctx.check(s, 'FTP_DATA', host, port);
      if (dataDenied !== null) return refuse(dataDenied, '550');
      serverData = await this.ctx.dial(s, host, port);
      this.moving.add(serverData);
    } catch (err) {
      return refuse(toProxyError(err), '425');
    }
    serverData.on('error', noop);
    let r: FtpReply;
    try {
      r = await this.serverReply(() => this.server.command(line));
    } catch (err) {
      serverData.destroy();
      data.close();
      throw err;
    }
    this.client.write(replyText(r));
    if (Math.floor(r.code / 100) !== 1) {
      serverData.destroy();
      data.close();
      const failed = r.code >= 400 ? proxyError('PRX_ERR_FTP_FAILED', replyMessage(r)) : null;
      this.ctx.record(s, request, { in: 0, out: 0 }, failed);
      return;
    }
    let clientData: Socket;
    try {
      clientData = await withDeadline(data.socket(), this.ctx.replyTimeoutMs, () => proxyError('PRX_ERR_FTP_DATA_TIMEOUT', 'the client did not connect'));
    } catch (err) {
      // The server sees its data connection go and answers the command (426, or 226 when it had
      // written everything already); that answer is consumed: for the client the transfer failed.
      serverData.destroy();
      data.close();
      await this.serverReply(() => this.server.reply());
      const e = toProxyError(err);
      this.client.write(`425 ${errorText(e)}\r\n`);
      this.ctx.record(s, request, { in: 0, out: 0 }, e);
      return;
    }
    this.moving.add(clientData);
    const moved = await pipeData(clientData, serverData, this.opts.idleMs, s.limits);
    const fin = await this.serverReply(() => this.server.reply());
    this.client.write(replyText(fin));
    const failed = moved.error ?? (fin.code >= 400 ? proxyError('PRX_ERR_FTP_FAILED', replyMessage(fin)) : null);
    this.ctx.record(s, request, { in: moved.in, out: moved.out }, failed);
  }
}

/** A one-connection listener for passive mode; connections from other addresses are dropped. */
class PassiveData implements ClientData {
  private accepted: Socket | null = null;
  private waiter: ((s: Socket) => void) | null = null;
  private failer: ((e: ProxyError) => void) | null = null;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static open(localAddress: string, clientAddress: string): Promise<PassiveData> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', (e: NodeJS.ErrnoException) => reject(proxyError('PRX_ERR_FTP_DATA_FAILED', `listen: ${e.code ?? e.message}`)));
      server.listen({ host: localAddress, port: 0, backlog: 1 }, () => {
        const addr = server.address();
        // Accept errors (EMFILE...) must not crash the process: the client just gets no connection.
        server.on('error', noop);
        const data = new PassiveData(server, typeof addr === 'object' && addr !== null ? addr.port : 0);
        server.on('connection', (s: Socket) => data.onConnection(s, clientAddress));
        resolve(data);
      });
    });
  }

  private onConnection(s: Socket, clientAddress: string): void {
    s.on('error', noop);
    if (this.accepted !== null || !sameHost(s.remoteAddress ?? '', clientAddress)) {
      s.destroy();
      return;
    }
    this.accepted = s;
    this.server.close();
    this.waiter?.(s);
  }

  socket(): Promise<Socket> {
    if (this.accepted !== null) return Promise.resolve(this.accepted);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  close(): void {
    this.server.close();
    this.accepted?.destroy();
    this.failer?.(proxyError('PRX_ERR_FTP_DATA_FAILED', 'closed'));
    this.waiter = null;
    this.failer = null;
  }
}

const plain = (a: string): string => plainIpv4(a) ?? a;

function sameHost(a: string, b: string): boolean {
  return plain(a) === plain(b);
}

/** An active-mode connection to the client, from the address the client reached us at. */
function connectTo(host: string, port: number, localAddress: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: plain(host), port, localAddress: isIP(plain(host)) === 4 ? plain(localAddress) : localAddress });
    const timer = setTimeout(() => {
      s.destroy();
      reject(proxyError('PRX_ERR_FTP_DATA_TIMEOUT', `connect to ${host}:${port}`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.on('error', noop);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(proxyError('PRX_ERR_FTP_DATA_FAILED', `connect to ${host}:${port}: ${e.code ?? e.message}`));
    });
  });
}

function noop(): void {}
