/**
 * Line-at-a-time handshakes on a socket (the mail gateways' dialogs, tlspr's STARTTLS modes),
 * and the handshake deadline they run under.
 */
import type { Socket } from 'node:net';
import type { ProxyError } from '../../core/errors';
import { SocketReader } from '../../core/net/socket-reader';

/** Line reading and writing on one socket for a handshake; `release()` hands the socket on. */
export class LineIo {
  private readonly reader: SocketReader;

  constructor(
    readonly socket: Socket,
    closedError: () => ProxyError,
    private readonly maxLine: number,
  ) {
    this.reader = new SocketReader(socket, closedError);
  }

  /** The next line without its CRLF (a bare LF is accepted, as 3proxy's sockgetlinebuf does). */
  async line(): Promise<string> {
    const raw = await this.reader.readUntil('\n', this.maxLine);
    return raw.toString('utf8').replace(/\r?\n$/, '');
  }

  write(text: string): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(text);
  }

  release(): void {
    this.reader.release();
  }
}

/** Races `p` against the handshake timeout; the loser is left to the socket's own teardown. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => ProxyError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
