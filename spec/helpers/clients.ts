/** Real clients for end-to-end tests: curl (as a child process) and raw TCP. */
import { execFile, spawn } from 'node:child_process';
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

export interface SClientResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * openssl s_client (with `-starttls` etc. in `args`): once the handshake summary is printed,
 * sends `command` and waits for `expect` in the output, then closes stdin. A handshake that
 * fails ends the process on its own; the result is then whatever it printed.
 */
export function sClient(args: readonly string[], command: string, expect: string): Promise<SClientResult> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-crlf', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    let done = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && stdout.search(/Verify return code|Verification( error)?:/) >= 0 && stdout.includes('---', stdout.search(/Verify return code|Verification/))) {
        sent = true;
        child.stdin.write(`${command}\n`);
      }
      if (sent && !done && stdout.includes(expect)) {
        done = true;
        child.stdin.end();
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
