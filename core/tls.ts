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
import { TLSSocket, createSecureContext, type SecureContext, type SecureVersion } from 'node:tls';
import type { ConfigProblem } from './errors';
import { proxyError } from './errors';
import { positionOf } from '../config/positions';
import type { SourceMap } from '../config/validate';

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
  /** Per-name contexts (MITM's minted certificates); names it does not answer get secureContext. */
  readonly sniCallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
}

/** Parent types with TLS to the parent: accepted by the schema (3proxy has them), not built yet. */
export const TLS_PARENT_TYPES: ReadonlySet<string> = new Set(['https', 'connects', 'connect+s', 'socks4s', 'socks5s', 'socks5+s', 'tcps']);

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
  try {
    secureContext = createSecureContext({
      cert,
      key,
      ...(ca !== undefined ? { ca } : {}),
      ...(tls.minVersion !== undefined ? { minVersion: tls.minVersion } : {}),
      ...(tls.maxVersion !== undefined ? { maxVersion: tls.maxVersion } : {}),
      ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    });
  } catch (err) {
    const reason = opensslReason(err);
    const where = /cipher/i.test(reason) ? 'ciphers' : /version|protocol/i.test(reason) ? 'minVersion' : /key/i.test(reason) ? 'key' : undefined;
    throw new TlsConfigError(where, `cannot use the TLS settings: ${reason}`);
  }
  if (tls.minVersion !== undefined && tls.maxVersion !== undefined && tls.minVersion > tls.maxVersion) {
    throw new TlsConfigError('minVersion', `minVersion ${tls.minVersion} is above maxVersion ${tls.maxVersion}`);
  }
  return { secureContext, requestCert, ...(tls.alpn !== undefined ? { alpn: [...tls.alpn] } : {}) };
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
 * Load-time checks the schema cannot make: every `tls:` block's files are read and parsed
 * (relative to the config file), and parents that need TLS are refused until TLS to parents is
 * built, so such a config fails here instead of at its first connect.
 */
export function tlsLoadChecks(config: Record<string, unknown>, file: string, src?: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (pointer: string): { line: number; column: number } =>
    src === undefined ? { line: 1, column: 1 } : positionOf(src.doc, src.lineCounter, pointer);
  const baseDir = dirname(resolve(file));
  const services = Array.isArray(config['services']) ? (config['services'] as Record<string, unknown>[]) : [];
  services.forEach((s, i) => {
    const tls = s['tls'];
    if (tls === undefined || tls === null || typeof tls !== 'object') return;
    try {
      materials.set(tls, buildTlsMaterial(tls, baseDir));
    } catch (err) {
      const e = err instanceof TlsConfigError ? err : new TlsConfigError(undefined, String(err));
      const pointer = `/services/${i}/tls${e.key !== undefined && e.key in tls ? '/' + e.key : ''}`;
      problems.push({ file, ...at(pointer), pointer, message: `PRX_ERR_CONFIG_VALUE: ${e.message}` });
    }
  });
  const walk = (value: unknown, pointer: string, inParents: boolean): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${pointer}/${i}`, inParents));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    if (inParents && typeof o['type'] === 'string' && TLS_PARENT_TYPES.has(o['type'])) {
      const p = `${pointer}/type`;
      problems.push({ file, ...at(p), pointer: p, message: `PRX_ERR_NOT_IMPLEMENTED: parent type "${o['type']}" (TLS to the parent) is not implemented yet` });
    }
    for (const [k, v] of Object.entries(o)) walk(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, k === 'parents');
  };
  walk(config, '', false);
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Node only checks a client certificate's chain for sockets a tls.Server owns (its internal
 * 'secure' handler); a standalone server TLSSocket with rejectUnauthorized refuses a missing
 * certificate but accepts one from any CA. This runs the same check; if the handle does not
 * offer it, the connection is refused rather than let through unverified.
 */
function verifyError(socket: TLSSocket): string | null {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (handle === undefined || typeof handle.verifyError !== 'function') return 'client certificate cannot be verified';
  const e = handle.verifyError();
  return e === null || e === undefined ? null : (e.code ?? e.message);
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
  return new Promise((resolvePromise, reject) => {
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: m.secureContext,
      requestCert: m.requestCert,
      rejectUnauthorized: m.requestCert,
      ...(m.alpn !== undefined ? { ALPNProtocols: m.alpn } : {}),
      ...(m.sniCallback !== undefined ? { SNICallback: m.sniCallback } : {}),
    });
    // The TLS socket owns the raw one from here: closing either must release the descriptor.
    socket.on('error', noop);
    socket.once('close', () => raw.destroy());
    raw.once('close', () => socket.destroy());
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      raw.destroy();
      reject(new TlsHandshakeError(reason));
    };
    const onError = (err: Error & { code?: string }): void => fail(err.code ?? err.message);
    const onClose = (): void => fail('connection closed during the handshake');
    const onAbort = (): void => fail('aborted');
    const onSecure = (): void => {
      if (m.requestCert) {
        const v = verifyError(socket);
        if (v !== null) {
          fail(`client certificate rejected: ${v}`);
          return;
        }
      }
      settled = true;
      cleanup();
      resolvePromise(socket);
    };
    const timer = setTimeout(() => fail('handshake timeout'), timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('secure', onSecure);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('secure', onSecure);
    socket.once('error', onError);
    socket.once('close', onClose);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function noop(): void {}
