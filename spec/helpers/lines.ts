/** Line-by-line reading of a text protocol's replies off a raw socket (mail, FTP tests). */
import type { Socket } from 'node:net';

/** Reads CRLF lines off a socket, one promise per line (null once the peer closed). */
export class Lines {
  private buf = '';
  private readonly queue: string[] = [];
  private waiters: ((line: string | null) => void)[] = [];
  private ended = false;

  constructor(socket: Socket, encoding: BufferEncoding = 'utf8') {
    socket.setEncoding(encoding);
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w !== undefined) w(line);
        else this.queue.push(line);
      }
    });
    const end = (): void => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  next(): Promise<string | null> {
    const line = this.queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A whole FTP/SMTP-style reply: the last line of a multi-line one (`123-...` up to `123 ...`). */
  async reply(): Promise<string | null> {
    const first = await this.next();
    if (first === null || !/^\d{3}-/.test(first)) return first;
    for (;;) {
      const l = await this.next();
      if (l === null || l.startsWith(`${first.slice(0, 3)} `)) return l;
    }
  }
}
