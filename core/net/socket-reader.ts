/**
 * Reads a handshake off a socket in exact pieces (PROXY header, SOCKS and CONNECT replies),
 * then gives the socket back with any extra bytes pushed back, so the relay sees them first.
 */
import type { Socket } from 'node:net';
import { proxyError, type ProxyError } from '../errors';

type Want = { kind: 'bytes'; n: number } | { kind: 'until'; delim: Buffer; max: number } | { kind: 'some'; n: number };

export class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { want: Want; resolve: (b: Buffer) => void; reject: (e: ProxyError) => void } | null = null;
  private failure: ProxyError | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.pump();
  };
  private readonly onEnd = (): void => this.fail(this.closedError());
  private readonly onError = (): void => this.fail(this.closedError());

  /** `closedError` builds the error a read gets when the peer goes away first. */
  constructor(
    readonly socket: Socket,
    private readonly closedError: () => ProxyError = () => proxyError('PRX_ERR_REQUEST_EMPTY'),
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    // A socket released by an earlier reader is paused; a new 'data' listener does not resume it.
    socket.resume();
  }

  /** Exactly `n` bytes. */
  read(n: number): Promise<Buffer> {
    return this.wait({ kind: 'bytes', n });
  }

  /** At least `n` bytes and whatever else has arrived (the "b" parent variants' short replies). */
  readSome(n: number): Promise<Buffer> {
    return this.wait({ kind: 'some', n });
  }

  /** Bytes up to and including `delim`; rejects with `tooLong` past `max` bytes. */
  readUntil(delim: string | Buffer, max: number): Promise<Buffer> {
    return this.wait({ kind: 'until', delim: typeof delim === 'string' ? Buffer.from(delim, 'latin1') : delim, max });
  }

  /** Puts bytes back in front of the unread ones (a look-ahead that decided nothing). */
  unread(bytes: Buffer): void {
    this.buf = Buffer.concat([bytes, this.buf]);
  }

  /** Bytes already received, without consuming them. */
  peek(): Buffer {
    return this.buf;
  }

  /** Stops reading and pushes unread bytes back into the (paused) socket. */
  release(): Socket {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onEnd);
    s.removeListener('error', this.onError);
    s.pause();
    if (this.buf.length > 0) s.unshift(this.buf);
    this.buf = Buffer.alloc(0);
    return s;
  }

  private wait(want: Want): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { want, resolve, reject };
      this.pump();
    });
  }

  private fail(err: ProxyError): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(err);
  }

  private pump(): void {
    const w = this.waiter;
    if (w === null) return;
    let take = -1;
    if (w.want.kind === 'bytes' && this.buf.length >= w.want.n) take = w.want.n;
    else if (w.want.kind === 'some' && this.buf.length >= w.want.n) take = this.buf.length;
    else if (w.want.kind === 'until') {
      const i = this.buf.indexOf(w.want.delim);
      if (i >= 0 && i + w.want.delim.length <= w.want.max) take = i + w.want.delim.length;
      else if (this.buf.length > w.want.max) {
        this.waiter = null;
        w.reject(proxyError('PRX_ERR_REQUEST_TOO_LARGE', w.want.max));
        return;
      }
    }
    if (take < 0) return;
    const out = this.buf.subarray(0, take);
    this.buf = this.buf.subarray(take);
    this.waiter = null;
    w.resolve(out);
  }
}
