/** Real clients for end-to-end tests: curl (as a child process) and raw TCP. */
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';

export interface CurlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs curl with a time limit; never rejects (the exit code is the result). */
export function curl(args: readonly string[], timeoutMs = 20000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Opens a TCP connection and resolves once connected. */
export function tcpConnect(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, allowHalfOpen: true });
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Reads until the peer ends the stream; resolves with everything read. */
export function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** Resolves when the peer has closed its side (FIN or reset) or the socket is gone. */
export function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve();
    s.resume();
    s.once('end', () => resolve());
    s.once('close', () => resolve());
    s.once('error', () => resolve());
  });
}
