/** Line reading for the plaintext protocol tests and fixtures (mail, STARTTLS, FTP). */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** Reads CRLF lines off a socket, one promise per line; `detach()` before a TLS upgrade. */
export class Lines {
  private buf = '';
  private readonly queue: string[] = [];
  private waiters: ((line: string | null) => void)[] = [];
  private ended = false;
  private readonly onData = (chunk: Buffer | string): void => {
    this.buf += chunk.toString();
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      const w = this.waiters.shift();
      if (w !== undefined) w(line);
      else this.queue.push(line);
    }
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w(null);
  };

  constructor(private readonly socket: Socket | TLSSocket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /** The next line, or null once the peer has closed. */
  next(): Promise<string | null> {
    const line = this.queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops reading, so a TLSSocket can take the socket over. */
  detach(): void {
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    this.socket.removeListener('error', this.onEnd);
  }

  /** A whole FTP/SMTP-style reply: the last line of a multi-line one (`123-...` up to `123 ...`). */
  async reply(): Promise<string | null> {
    const first = await this.next();
    if (first === null || first.search(/^\d{3}-/) !== 0) return first;
    for (;;) {
      const l = await this.next();
      if (l === null || l.startsWith(`${first.slice(0, 3)} `)) return l;
    }
  }
}
