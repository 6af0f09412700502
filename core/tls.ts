/**
 * TLS on a service's listener (3proxy ssl_serv): the key material of a `tls:` block is read and
 * checked when the config loads (a reload loads again, so renewed certificates are picked up),
 * and each accepted socket is wrapped in a server TLSSocket before the pipeline reads from it.
 *
 * The plain net.Server stays underneath on purpose: reload hands the listening socket from one
 * runtime to the next, and a service can gain, lose or change `tls:` across a reload.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { Socket } from 'node:net';
import { Server as TlsServer, TLSSocket, createSecureContext, type SecureContext, type SecureVersion, type TlsOptions } from 'node:tls';
import type { ConfigProblem } from './errors';
import { proxyError } from './errors';
import { positionOf } from '../config/positions';
import type { SourceMap } from '../config/validate';
import { TLS_HOP_TYPES, TlsClientConfigError, buildTlsClientMaterial, rememberTlsClientMaterial } from './tls-client';

export interface TlsListenerConfig {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly requestCert?: boolean;
  readonly minVersion?: SecureVersion;
  readonly maxVersion?: SecureVersion;
  readonly ciphers?: string;
  readonly alpn?: readonly string[];
}

/** What a service needs to terminate TLS, built once per load. */
export interface TlsMaterial {
  readonly secureContext: SecureContext;
  readonly requestCert: boolean;
  readonly alpn?: string[];
  /** The same settings as tls.Server options (mTLS handshakes run in one, see acceptTls). */
  readonly serverOptions: TlsOptions;
  /** Per-name contexts (MITM's minted certificates); names it does not answer get secureContext. */
  readonly sniCallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
}

/** A problem in a `tls:` block; `key` names the offending entry for the position. */
class TlsConfigError extends Error {
  constructor(
    readonly key: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Keyed by the (frozen) `tls:` object of the loaded config: the load reads the files once and
 * the service built from that same config uses what was read, so validate and serve agree.
 */
const materials = new WeakMap<object, TlsMaterial>();

function readPem(tls: TlsListenerConfig, key: 'cert' | 'key' | 'ca', baseDir: string): Buffer {
  const path = tls[key];
  if (path === undefined) throw new TlsConfigError(undefined, `missing required key "${key}"`);
  try {
    return readFileSync(resolve(baseDir, path));
  } catch (err) {
    throw new TlsConfigError(key, `cannot read ${key} file ${resolve(baseDir, path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function opensslReason(err: unknown): string {
  const e = err as { code?: string; reason?: string; message?: string };
  return e.reason ?? e.code ?? e.message ?? String(err);
}

/** Reads and checks the PEM files (paths relative to `baseDir`); throws TlsConfigError. */
export function buildTlsMaterial(tls: TlsListenerConfig, baseDir: string): TlsMaterial {
  const cert = readPem(tls, 'cert', baseDir);
  const key = readPem(tls, 'key', baseDir);
  // Each file is parsed on its own first so the error points at the file that is wrong.
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new TlsConfigError('cert', `${tls.cert}: not a PEM certificate (${opensslReason(err)})`);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new TlsConfigError('key', `${tls.key}: not a usable PEM private key (${opensslReason(err)})`);
  }
  let ca: Buffer | undefined;
  if (tls.ca !== undefined) {
    ca = readPem(tls, 'ca', baseDir);
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new TlsConfigError('ca', `${tls.ca}: not a PEM certificate (${opensslReason(err)})`);
    }
  }
  const requestCert = tls.requestCert === true;
  // Without a CA, Node would verify client certificates against its public roots: anyone with
  // a certificate from a public CA would pass, which is not what mTLS is asked for.
  if (requestCert && ca === undefined) throw new TlsConfigError('requestCert', 'requestCert needs "ca" (the CA that signs client certificates)');
  let secureContext: SecureContext;
  const contextOptions = {
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    ...(tls.minVersion !== undefined ? { minVersion: tls.minVersion } : {}),
    ...(tls.maxVersion !== undefined ? { maxVersion: tls.maxVersion } : {}),
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
  };
  try {
    secureContext = createSecureContext(contextOptions);
  } catch (err) {
    const reason = opensslReason(err);
    const where = /cipher/i.test(reason) ? 'ciphers' : /version|protocol/i.test(reason) ? 'minVersion' : /key/i.test(reason) ? 'key' : undefined;
    throw new TlsConfigError(where, `cannot use the TLS settings: ${reason}`);
  }
  if (tls.minVersion !== undefined && tls.maxVersion !== undefined && tls.minVersion > tls.maxVersion) {
    throw new TlsConfigError('minVersion', `minVersion ${tls.minVersion} is above maxVersion ${tls.maxVersion}`);
  }
  const alpn = tls.alpn !== undefined ? { alpn: [...tls.alpn] } : {};
  const serverOptions: TlsOptions = { ...contextOptions, requestCert, rejectUnauthorized: false, ...(tls.alpn !== undefined ? { ALPNProtocols: [...tls.alpn] } : {}) };
  return { secureContext, requestCert, ...alpn, serverOptions };
}

/**
 * The material loaded with the config for this `tls:` block; a config that did not go through
 * the loader (built in code) is read now, relative to the working directory.
 */
export function tlsMaterialFor(tls: TlsListenerConfig): TlsMaterial {
  const cached = materials.get(tls);
  if (cached !== undefined) return cached;
  try {
    const m = buildTlsMaterial(tls, process.cwd());
    materials.set(tls, m);
    return m;
  } catch (err) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', 'tls', err instanceof Error ? err.message : String(err));
  }
}

/**
 * Load-time checks the schema cannot make: the files of every `tls:` block (listeners), every
 * parent's `tls:` and every service's `upstreamTls:` are read and parsed (relative to the config
 * file), so a bad file fails the load with its position instead of failing the first connect.
 */
export function tlsLoadChecks(config: Record<string, unknown>, file: string, src?: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (pointer: string): { line: number; column: number } =>
    src === undefined ? { line: 1, column: 1 } : positionOf(src.doc, src.lineCounter, pointer);
  const baseDir = dirname(resolve(file));
  const report = (block: object, pointer: string, err: unknown): void => {
    const e = err instanceof TlsConfigError || err instanceof TlsClientConfigError ? err : new TlsConfigError(undefined, String(err));
    const p = `${pointer}${e.key !== undefined && e.key in block ? '/' + e.key : ''}`;
    problems.push({ file, ...at(p), pointer: p, message: `PRX_ERR_CONFIG_VALUE: ${e.message}` });
  };
  const client = (block: unknown, pointer: string): void => {
    if (block === undefined || block === null || typeof block !== 'object') return;
    try {
      rememberTlsClientMaterial(block, buildTlsClientMaterial(block, baseDir));
    } catch (err) {
      report(block, pointer, err);
    }
  };
  const services = Array.isArray(config['services']) ? (config['services'] as Record<string, unknown>[]) : [];
  services.forEach((s, i) => {
    client(s['upstreamTls'], `/services/${i}/upstreamTls`);
    const tls = s['tls'];
    if (tls === undefined || tls === null || typeof tls !== 'object') return;
    try {
      materials.set(tls, buildTlsMaterial(tls, baseDir));
    } catch (err) {
      report(tls, `/services/${i}/tls`, err);
    }
  });
  const walk = (value: unknown, pointer: string, inParents: boolean): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${pointer}/${i}`, inParents));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    if (inParents && typeof o['type'] === 'string') {
      if (o['tls'] !== undefined && !TLS_HOP_TYPES.has(o['type'])) {
        const p = `${pointer}/tls`;
        problems.push({ file, ...at(p), pointer: p, message: `PRX_ERR_CONFIG_VALUE: "tls" is for parent types that speak TLS (${[...TLS_HOP_TYPES.keys()].join(', ')}), not "${o['type']}"` });
      } else client(o['tls'], `${pointer}/tls`);
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, k === 'parents');
  };
  walk(config, '', false);
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

export class TlsHandshakeError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * Runs the server side of the TLS handshake on an accepted socket. Resolves with the TLS socket
 * (the decrypted stream) or rejects with TlsHandshakeError; on failure or timeout both sockets
 * are destroyed. `signal` aborts (the connection was cut while handshaking).
 */
export function acceptTls(raw: Socket, m: TlsMaterial, timeoutMs: number, signal?: AbortSignal): Promise<TLSSocket> {
  return m.requestCert ? acceptMutualTls(raw, m, timeoutMs, signal) : handshake(raw, timeoutMs, signal, (settle) => {
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: m.secureContext,
      ...(m.alpn !== undefined ? { ALPNProtocols: m.alpn } : {}),
      ...(m.sniCallback !== undefined ? { SNICallback: m.sniCallback } : {}),
    });
    settle.own(socket);
    socket.once('secure', () => settle.ok(socket));
  });
}

/** The handshake's outcome, given to the code that starts it. */
interface Settle {
  /** The TLS socket exists: it owns `raw` from here, and its failures settle the handshake. */
  own(socket: TLSSocket): void;
  ok(socket: TLSSocket): void;
  fail(reason: string): void;
}

/** Deadline, abort and close handling shared by both kinds of server handshake. */
function handshake(raw: Socket, timeoutMs: number, signal: AbortSignal | undefined, start: (settle: Settle) => void): Promise<TLSSocket> {
  return new Promise((resolvePromise, reject) => {
    let tls: TLSSocket | null = null;
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      cleanup();
      tls?.destroy();
      raw.destroy();
      reject(new TlsHandshakeError(reason));
    };
    const onError = (err: Error & { code?: string }): void => fail(err.code ?? err.message);
    const onClose = (): void => fail('connection closed during the handshake');
    const onAbort = (): void => fail('aborted');
    const timer = setTimeout(() => fail('handshake timeout'), timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      raw.removeListener('close', onClose);
      tls?.removeListener('error', onError);
      tls?.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    raw.once('close', onClose);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    start({
      own: (socket) => {
        tls = socket;
        // The TLS socket owns the raw one from here: closing either must release the descriptor.
        socket.on('error', noop);
        socket.once('close', () => raw.destroy());
        raw.once('close', () => socket.destroy());
        socket.once('error', onError);
        socket.once('close', onClose);
        if (settled) socket.destroy();
      },
      ok: (socket) => {
        if (settled) {
          socket.destroy();
          return;
        }
        settled = true;
        cleanup();
        resolvePromise(socket);
      },
      fail,
    });
  });
}

/**
 * mTLS: Node checks a client certificate's chain only for sockets a tls.Server owns, so these
 * handshakes run in one (never listening; the accepted socket is handed to it as a
 * 'connection'), and the verdict is read from the public authorized/authorizationError. The
 * server's events name its TLS socket, not ours: the pending handshakes are found by the
 * socket's addresses, which a live TCP connection has uniquely; sockets without addresses (unix
 * listeners) take turns.
 */
const mtlsServers = new WeakMap<TlsMaterial, MutualTlsServer>();

class MutualTlsServer {
  private readonly server: TlsServer;
  private readonly pending = new Map<string, Settle>();
  /** Unix sockets have no addresses to tell them apart: one handshake at a time. */
  private unnamedBusy = false;
  private readonly unnamedQueue: (() => void)[] = [];

  constructor(m: TlsMaterial, timeoutMs: number) {
    // A backstop for sockets our own deadline gave up on before the server had handed them over.
    this.server = new TlsServer({ ...m.serverOptions, handshakeTimeout: timeoutMs + 1000 });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const settle = this.take(socket);
      if (settle === undefined) {
        socket.destroy();
        return;
      }
      settle.own(socket);
      if (socket.authorized) settle.ok(socket);
      else settle.fail(`client certificate rejected: ${socket.getPeerX509Certificate() === undefined ? 'no certificate (PEER_DID_NOT_RETURN_A_CERTIFICATE)' : String(socket.authorizationError)}`);
    });
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const settle = this.take(socket);
      socket.destroy();
      settle?.fail(err.code ?? err.message);
    });
  }

  private static key(s: Socket): string | null {
    return s.remoteAddress === undefined ? null : `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
  }

  private take(socket: TLSSocket): Settle | undefined {
    const key = MutualTlsServer.key(socket) ?? '';
    const settle = this.pending.get(key);
    this.pending.delete(key);
    return settle;
  }

  accept(raw: Socket, timeoutMs: number, signal?: AbortSignal): Promise<TLSSocket> {
    const key = MutualTlsServer.key(raw);
    if (key !== null) return this.start(raw, key, timeoutMs, signal);
    return new Promise<void>((go) => {
      if (!this.unnamedBusy) {
        this.unnamedBusy = true;
        go();
      } else this.unnamedQueue.push(go);
    }).then(() => {
      const done = this.start(raw, '', timeoutMs, signal);
      const next = (): void => {
        const go = this.unnamedQueue.shift();
        if (go === undefined) this.unnamedBusy = false;
        else go();
      };
      done.then(next, next);
      return done;
    });
  }

  private start(raw: Socket, key: string, timeoutMs: number, signal?: AbortSignal): Promise<TLSSocket> {
    const p = handshake(raw, timeoutMs, signal, (settle) => {
      this.pending.set(key, settle);
      this.server.emit('connection', raw);
    });
    const forget = (): void => {
      this.pending.delete(key);
    };
    p.then(forget, forget);
    return p;
  }
}

function acceptMutualTls(raw: Socket, m: TlsMaterial, timeoutMs: number, signal?: AbortSignal): Promise<TLSSocket> {
  let server = mtlsServers.get(m);
  if (server === undefined) {
    server = new MutualTlsServer(m, timeoutMs);
    mtlsServers.set(m, server);
  }
  return server.accept(raw, timeoutMs, signal);
}

function noop(): void {}
