/**
 * TLS from the proxy outwards (3proxy ssl_cli): to a parent whose type ends in "s" (`https`,
 * `connects`, `socks5s`, ...) and to the target itself (a service's `upstreamTls:`). One
 * `tls:`-style block configures both:
 *
 *   block -> material (read and checked at load, like the listener's) -> tls.connect over the
 *   socket we already have (a TCP socket, or the tunnel of the previous hop) -> verified
 *   TLSSocket, or a typed failure (handshake vs certificate) the caller maps to its own code
 *
 * Verification is on unless `verify: false`: the chain against `ca` (Node's public roots when
 * absent) and the name against `servername` (default: the host we were asked to reach).
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type SecureVersion, type TLSSocket } from 'node:tls';
import { proxyErrorFrom } from './errors';
import type { Logger } from './logger';

/**
 * Parent types that speak TLS to the hop, and the protocol spoken inside (3proxy's "s" suffix;
 * `https` is an HTTP CONNECT proxy behind TLS, i.e. `connects`).
 */
export const TLS_HOP_TYPES: ReadonlyMap<string, string> = new Map([
  ['https', 'connect'],
  ['connects', 'connect'],
  ['connect+s', 'connect+'],
  ['socks4s', 'socks4'],
  ['socks4+s', 'socks4+'],
  ['socks5s', 'socks5'],
  ['socks5+s', 'socks5+'],
  ['tcps', 'tcp'],
]);

export interface TlsClientConfig {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly alpn?: readonly string[];
  readonly verify?: boolean;
  readonly minVersion?: SecureVersion;
  readonly maxVersion?: SecureVersion;
  readonly ciphers?: string;
}

export interface TlsClientMaterial {
  readonly secureContext: SecureContext;
  readonly verify: boolean;
  readonly servername?: string;
  readonly alpn?: string[];
}

/** A problem in a client `tls:` block; `key` names the offending entry for the position. */
export class TlsClientConfigError extends Error {
  constructor(
    readonly key: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; reason?: string; message?: string };
  return e.reason ?? e.code ?? e.message ?? String(err);
}

function readFile(cfg: TlsClientConfig, key: 'ca' | 'cert' | 'key', baseDir: string): Buffer {
  const path = resolve(baseDir, cfg[key]!);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsClientConfigError(key, `cannot read ${key} file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Reads and checks the block's files (relative to `baseDir`); throws TlsClientConfigError. */
export function buildTlsClientMaterial(cfg: TlsClientConfig, baseDir: string): TlsClientMaterial {
  if ((cfg.cert === undefined) !== (cfg.key === undefined)) {
    throw new TlsClientConfigError(cfg.cert === undefined ? 'key' : 'cert', 'a client certificate needs both "cert" and "key"');
  }
  const ca = cfg.ca === undefined ? undefined : readFile(cfg, 'ca', baseDir);
  const cert = cfg.cert === undefined ? undefined : readFile(cfg, 'cert', baseDir);
  const key = cfg.key === undefined ? undefined : readFile(cfg, 'key', baseDir);
  for (const [name, pem] of [['ca', ca], ['cert', cert]] as const) {
    if (pem === undefined) continue;
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new TlsClientConfigError(name, `${cfg[name]}: not a PEM certificate (${reasonOf(err)})`);
    }
  }
  if (key !== undefined) {
    try {
      createPrivateKey(key);
    } catch (err) {
      throw new TlsClientConfigError('key', `${cfg.key}: not a usable PEM private key (${reasonOf(err)})`);
    }
  }
  if (cfg.minVersion !== undefined && cfg.maxVersion !== undefined && cfg.minVersion > cfg.maxVersion) {
    throw new TlsClientConfigError('minVersion', `minVersion ${cfg.minVersion} is above maxVersion ${cfg.maxVersion}`);
  }
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(cfg.minVersion !== undefined ? { minVersion: cfg.minVersion } : {}),
      ...(cfg.maxVersion !== undefined ? { maxVersion: cfg.maxVersion } : {}),
      ...(cfg.ciphers !== undefined ? { ciphers: cfg.ciphers } : {}),
    });
  } catch (err) {
    const reason = reasonOf(err);
    const where = /cipher/i.test(reason) ? 'ciphers' : /key/i.test(reason) ? 'key' : undefined;
    throw new TlsClientConfigError(where, `cannot use the TLS settings: ${reason}`);
  }
  return {
    secureContext,
    verify: cfg.verify !== false,
    ...(cfg.servername !== undefined ? { servername: cfg.servername } : {}),
    ...(cfg.alpn !== undefined ? { alpn: [...cfg.alpn] } : {}),
  };
}

/** Keyed by the (frozen) block of the loaded config, as the listener's material is. */
const materials = new WeakMap<object, TlsClientMaterial>();

export function rememberTlsClientMaterial(cfg: object, m: TlsClientMaterial): void {
  materials.set(cfg, m);
}

/** The material loaded with the config; a block built in code is read now, relative to the cwd. */
export function tlsClientMaterialFor(cfg: TlsClientConfig): TlsClientMaterial {
  const cached = materials.get(cfg);
  if (cached !== undefined) return cached;
  const m = buildTlsClientMaterial(cfg, process.cwd());
  materials.set(cfg, m);
  return m;
}

/** Why a client handshake failed: the certificate (verify) or anything else (handshake). */
export class TlsClientError extends Error {
  constructor(
    readonly kind: 'handshake' | 'verify',
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface TlsClientTarget {
  /** The host we were asked to reach: default SNI (names only) and the name verified. */
  readonly host: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs the client side of a TLS handshake over `socket`. Resolves with the TLS socket, or
 * rejects with TlsClientError; on failure both sockets are destroyed, and closing either later
 * closes the other (the caller owns the returned one).
 */
export function connectTls(socket: Socket, m: TlsClientMaterial, to: TlsClientTarget): Promise<TLSSocket> {
  const name = m.servername ?? to.host;
  // SNI carries names only (RFC 6066); an address is still checked against the IP SANs.
  const sni = isIP(name) === 0 ? name : undefined;
  return new Promise((resolvePromise, reject) => {
    const tls = tlsConnect({
      socket,
      secureContext: m.secureContext,
      ...(sni !== undefined ? { servername: sni } : {}),
      ...(m.alpn !== undefined ? { ALPNProtocols: m.alpn } : {}),
      // Checked below from authorized/authorizationError, so the failure says why.
      rejectUnauthorized: false,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
    });
    tls.on('error', noop);
    tls.once('close', () => socket.destroy());
    socket.once('close', () => tls.destroy());
    let settled = false;
    const fail = (kind: 'handshake' | 'verify', reason: string): void => {
      if (settled) return;
      settled = true;
      cleanup();
      tls.destroy();
      socket.destroy();
      reject(new TlsClientError(kind, reason));
    };
    const onSecure = (): void => {
      if (m.verify && !tls.authorized) {
        fail('verify', String(tls.authorizationError ?? 'certificate not trusted'));
        return;
      }
      settled = true;
      cleanup();
      resolvePromise(tls);
    };
    const onError = (err: Error & { code?: string }): void => fail('handshake', err.code ?? err.message);
    const onClose = (): void => fail('handshake', 'connection closed during the handshake');
    const onAbort = (): void => fail('handshake', 'aborted');
    const timer = setTimeout(() => fail('handshake', 'handshake timeout'), to.timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      tls.removeListener('secureConnect', onSecure);
      tls.removeListener('error', onError);
      tls.removeListener('close', onClose);
      to.signal?.removeEventListener('abort', onAbort);
    };
    tls.once('secureConnect', onSecure);
    tls.once('error', onError);
    tls.once('close', onClose);
    if (to.signal?.aborted === true) onAbort();
    else to.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * TLS to the target (a service's `upstreamTls:`, 3proxy ssl_cli) over the socket that reached
 * it, directly or through parents; failures become PRX_ERR_UPSTREAM_TLS_* (3proxy 8011), and a
 * certificate that does not verify is also logged: it is a configuration or security matter.
 */
export async function upstreamTls(socket: Socket, m: TlsClientMaterial, to: TlsClientTarget & { readonly port: number; readonly logger: Logger }): Promise<TLSSocket> {
  const target = `${isIP(to.host) === 6 ? `[${to.host}]` : to.host}:${to.port}`;
  try {
    return await connectTls(socket, m, to);
  } catch (err) {
    if (!(err instanceof TlsClientError)) throw err;
    if (err.kind === 'verify') {
      to.logger.warn({ code: 'PRX_ERR_UPSTREAM_TLS_VERIFY', target, reason: err.reason }, 'server certificate not verified');
      throw proxyErrorFrom('PRX_ERR_UPSTREAM_TLS_VERIFY', err, target, err.reason);
    }
    throw proxyErrorFrom('PRX_ERR_UPSTREAM_TLS_HANDSHAKE', err, target, err.reason);
  }
}

function noop(): void {}
