/**
 * A service's `mitm:` block (3proxy ssl_mitm, ssl_server_ca_file/key, ssl_certcache): checked
 * when the config loads, with positions, so a wrong CA file fails `validate`/start instead of
 * the first intercepted connection; the CA is imported and the cache opened on first use.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ConfigProblem } from '../errors';
import { positionOf } from '../../config/positions';
import type { SourceMap } from '../../config/validate';
import { CertError, loadCa } from './certs';
import { CertCache } from './cache';

export interface MitmConfig {
  readonly ca: { readonly cert: string; readonly key: string };
  readonly cacheDir?: string;
  readonly cacheSize?: number;
  readonly origin?: { readonly verify?: boolean; readonly ca?: string };
}

/** The block with its paths resolved against the config file's folder. */
export interface MitmPaths {
  readonly cert: string;
  readonly key: string;
  readonly cacheDir: string | null;
  readonly originCa: string | null;
}

export const DEFAULT_CACHE_SIZE = 1000;

const paths = new WeakMap<object, MitmPaths>();

function resolvePaths(m: MitmConfig, baseDir: string): MitmPaths {
  return {
    cert: resolve(baseDir, m.ca.cert),
    key: resolve(baseDir, m.ca.key),
    cacheDir: m.cacheDir === undefined ? null : resolve(baseDir, m.cacheDir),
    originCa: m.origin?.ca === undefined ? null : resolve(baseDir, m.origin.ca),
  };
}

/** Paths for this block: as the loader resolved them, else relative to the working directory. */
export function mitmPaths(m: MitmConfig): MitmPaths {
  return paths.get(m) ?? resolvePaths(m, process.cwd());
}

class Problem extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

function read(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Problem(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The synchronous part of loadCa's checks, for load time. */
function checkBlock(p: MitmPaths): void {
  const certPem = read(p.cert, 'ca/cert');
  const keyPem = read(p.key, 'ca/key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Problem('ca/cert', `${p.cert}: not a PEM certificate (${(err as Error).message})`);
  }
  if (!cert.ca) throw new Problem('ca/cert', `${p.cert}: not a CA certificate (basicConstraints CA:TRUE missing)`);
  if (Date.parse(cert.validTo) <= Date.now()) throw new Problem('ca/cert', `${p.cert}: the CA certificate expired on ${cert.validTo}`);
  let ok: boolean;
  try {
    ok = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new Problem('ca/key', `${p.key}: not a usable PEM private key (${(err as Error).message})`);
  }
  if (!ok) throw new Problem('ca/key', `${p.key}: the key does not belong to ${p.cert}`);
  if (p.originCa !== null) {
    try {
      new X509Certificate(read(p.originCa, 'origin/ca'));
    } catch (err) {
      if (err instanceof Problem) throw err;
      throw new Problem('origin/ca', `${p.originCa}: not a PEM certificate`);
    }
  }
  if (p.cacheDir !== null) {
    try {
      if (!statSync(p.cacheDir).isDirectory()) throw new Problem('cacheDir', `${p.cacheDir} is not a directory`);
      accessSync(p.cacheDir, constants.W_OK);
    } catch (err) {
      if (err instanceof Problem) throw err;
      // Created on first use when missing; an existing one must be writable.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Problem('cacheDir', `${p.cacheDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
}

/** Load-time checks of every service's `mitm:` block; remembers the resolved paths. */
export function mitmLoadChecks(config: Record<string, unknown>, file: string, src?: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const baseDir = dirname(resolve(file));
  const services = Array.isArray(config['services']) ? (config['services'] as Record<string, unknown>[]) : [];
  services.forEach((s, i) => {
    const m = s['mitm'] as MitmConfig | undefined;
    const at = (pointer: string): { line: number; column: number } =>
      src === undefined ? { line: 1, column: 1 } : positionOf(src.doc, src.lineCounter, pointer);
    const acl = Array.isArray(s['acl']) ? (s['acl'] as Record<string, unknown>[]) : [];
    if (m === undefined || m === null || typeof m !== 'object') {
      // An ACL asking for interception in a service that has no CA to do it with.
      acl.forEach((rule, j) => {
        if (rule['mitm'] !== true) return;
        const pointer = `/services/${i}/acl/${j}/mitm`;
        problems.push({ file, ...at(pointer), pointer, message: 'PRX_ERR_CONFIG_VALUE: mitm: true needs a "mitm:" block (ca) on the service' });
      });
      return;
    }
    const p = resolvePaths(m, baseDir);
    try {
      checkBlock(p);
      paths.set(m, p);
    } catch (err) {
      const key = err instanceof Problem ? err.key : '';
      const pointer = `/services/${i}/mitm${key === '' ? '' : '/' + key}`;
      problems.push({ file, ...at(pointer), pointer, message: `PRX_ERR_CONFIG_VALUE: ${(err as Error).message}` });
    }
  });
  return problems;
}

/** What an intercepting service uses at run time. */
export interface MitmMaterial {
  readonly cache: CertCache;
  /** Extra CA(s) to trust for origins (PEM), or null for Node's public roots. */
  readonly originCa: string | null;
  readonly verify: boolean;
}

const materials = new WeakMap<object, Promise<MitmMaterial>>();

/** Imports the CA and opens the cache once per loaded block; rejects with CertError. */
export function mitmMaterial(m: MitmConfig): Promise<MitmMaterial> {
  let made = materials.get(m);
  if (made === undefined) {
    made = (async () => {
      const p = mitmPaths(m);
      let ca;
      try {
        ca = await loadCa(readFileSync(p.cert, 'utf8'), readFileSync(p.key, 'utf8'));
      } catch (err) {
        throw new CertError(`CA ${p.cert}: ${(err as Error).message}`);
      }
      const cache = await CertCache.open(ca, m.cacheSize ?? DEFAULT_CACHE_SIZE, p.cacheDir);
      return { cache, originCa: p.originCa === null ? null : readFileSync(p.originCa, 'utf8'), verify: m.origin?.verify !== false };
    })();
    materials.set(m, made);
    // A failure is not remembered: fixing the file and reloading (a new block) tries again anyway.
    made.catch(() => materials.delete(m));
  }
  return made;
}
