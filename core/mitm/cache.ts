/**
 * Minted certificates by host: a bounded LRU of secure contexts in memory, and optionally a
 * directory that keeps them (and the one leaf key they share) across restarts.
 *
 *   contextFor(host) -> memory hit | disk hit (issued by this CA, for this host, this key, not
 *                       about to expire) | mint + write -> SecureContext (leaf + CA chain)
 *
 * Concurrent first requests for one host share one mint (the map holds the promise).
 * Files: `<dir>/leaf.key` (0600) and `<dir>/<sha256(CA, host)>.pem` (0644, certificates only).
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { leafKeyFromPem, mintLeaf, newLeafKey, type LeafKey, type MitmCa } from './certs';

/** A cached certificate this close to its end is minted again. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;

export interface CacheStats {
  hits: number;
  diskHits: number;
  minted: number;
}

export class CertCache {
  readonly stats: CacheStats = { hits: 0, diskHits: 0, minted: 0 };
  private readonly entries = new Map<string, Promise<SecureContext>>();

  private constructor(
    private readonly ca: MitmCa,
    private readonly leaf: LeafKey,
    private readonly max: number,
    private readonly dir: string | null,
  ) {}

  /** Builds the cache; with a directory, its leaf key is reused or created there (0600). */
  static async open(ca: MitmCa, max: number, dir: string | null): Promise<CertCache> {
    if (dir === null) return new CertCache(ca, await newLeafKey(), max, null);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, 'leaf.key');
    let leaf: LeafKey | null = null;
    try {
      leaf = await leafKeyFromPem(readFileSync(keyFile, 'utf8'));
    } catch {
      // Missing or unusable: a new key; certificates minted for the old one no longer match
      // it and are minted again on use (fromDisk checks the key).
    }
    if (leaf === null) {
      leaf = await newLeafKey();
      writeAtomic(keyFile, leaf.privatePem, 0o600);
    }
    return new CertCache(ca, leaf, max, dir);
  }

  /** The secure context serving `host` (a lower-case DNS name or an IP address). */
  contextFor(host: string): Promise<SecureContext> {
    const hit = this.entries.get(host);
    if (hit !== undefined) {
      // Re-inserted: Map order is the LRU order, oldest first.
      this.entries.delete(host);
      this.entries.set(host, hit);
      this.stats.hits++;
      return hit;
    }
    const made = this.make(host);
    this.entries.set(host, made);
    // A failed mint is not cached: the next request tries again.
    made.catch(() => {
      if (this.entries.get(host) === made) this.entries.delete(host);
    });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return made;
  }

  private async make(host: string): Promise<SecureContext> {
    const file = this.dir === null ? null : join(this.dir, `${createHash('sha256').update(this.ca.fingerprint).update('\0').update(host).digest('hex').slice(0, 40)}.pem`);
    let pem = file === null ? null : this.fromDisk(file, host);
    if (pem !== null) this.stats.diskHits++;
    else {
      pem = await mintLeaf(this.ca, this.leaf, host);
      this.stats.minted++;
      if (file !== null) writeAtomic(file, pem, 0o644);
    }
    return createSecureContext({ key: this.leaf.privatePem, cert: pem + this.ca.certPem });
  }

  /** A cached certificate if it is still right for this CA, host and key; else null. */
  private fromDisk(file: string, host: string): string | null {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch {
      return null;
    }
    try {
      const cert = new X509Certificate(pem);
      const forHost = isIP(host) !== 0 ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
      const fresh = Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
      const ours = cert.checkIssued(this.ca.cert) && cert.verify(this.ca.cert.publicKey) && cert.checkPrivateKey(createPrivateKey(this.leaf.privatePem));
      return forHost && fresh && ours ? pem : null;
    } catch {
      return null;
    }
  }
}

/** Written whole or not at all (a crash mid-write leaves no torn PEM for the next start). */
function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
