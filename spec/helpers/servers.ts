/**
 * Upstream fixtures on 127.0.0.1:0: a TCP echo server and an HTTP server. Each returns its
 * port and a close() that destroys every socket it accepted, so tests leave nothing behind.
 */
import { createServer as createNetServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';

export interface Fixture {
  readonly port: number;
  readonly host: string;
  /** Sockets currently open on the fixture. */
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

function track(server: Server, host: string): Promise<Fixture> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        host,
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Echoes every byte back; half-close aware (ends its side when the client ends). */
export function echoServer(host = '127.0.0.1'): Promise<Fixture> {
  const server = createNetServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  return track(server, host);
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** GET /hello -> "hello world"; /bytes/N -> N bytes; POST echoes the body; others 404. */
export const defaultHandler: Handler = (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'POST' || req.method === 'PUT') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
    return;
  }
  const bytes = /^\/bytes\/(\d+)$/.exec(url);
  if (bytes !== null) {
    const n = Number(bytes[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    res.end(Buffer.alloc(n, 0x61));
    return;
  }
  if (url === '/hello') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello world');
    return;
  }
  if (url === '/headers') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.headers));
    return;
  }
  res.writeHead(404);
  res.end('not found');
};

export function httpServer(handler: Handler = defaultHandler, host = '127.0.0.1'): Promise<Fixture> {
  const server = createHttpServer(handler);
  server.keepAliveTimeout = 5000;
  return track(server, host);
}

/** A listener that accepts and never answers (black hole upstream). */
export function blackHole(host = '127.0.0.1'): Promise<Fixture> {
  const server = createNetServer((s) => {
    s.on('error', () => s.destroy());
  });
  return track(server, host);
}

/** A port with nothing listening: bind, read the port, close. */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const f = await track(createNetServer(), host);
  await f.close();
  return f.port;
}

/**
 * Writes `total` bytes of `chunk` (the last write cut to fit) and then ends `out`, waiting for
 * 'drain' whenever a write is refused: bulk-download fixtures, bounded and backpressured.
 */
export function sendBytes(out: Writable, total: number, chunk: Buffer): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!out.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void out.once('drain', pump);
    }
    out.end();
  };
  pump();
}
