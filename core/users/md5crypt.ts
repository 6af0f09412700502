/**
 * MD5-crypt (`$1$salt$hash`, Poul-Henning Kamp's FreeBSD scheme) as 3proxy's `mycrypt()` runs it.
 *
 * The one difference from glibc and `openssl passwd -1`: the salt is everything between `$1$`
 * and the next `$`, however long. Those tools cut it to 8 characters, so hashes with a salt of
 * up to 8 characters agree everywhere and longer ones only with 3proxy (and with us).
 */
import { createHash } from 'node:crypto';
import { MD5_CRYPT_GROUPS, encodeCrypt64 } from './crypt64';

const MAGIC = Buffer.from('$1$');
const ROUNDS = 1000;

function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The initial digest, before the 1000 strengthening rounds. */
function initialDigest(pw: Buffer, salt: Buffer): Buffer {
  const alternate = md5(pw, salt, pw);
  const h = createHash('md5').update(pw).update(MAGIC).update(salt);
  for (let left = pw.length; left > 0; left -= 16) h.update(alternate.subarray(0, Math.min(16, left)));
  // The historical quirk: per bit of the length, a NUL byte (the alternate digest was already
  // zeroed in the C code) or the password's first byte.
  const nul = Buffer.alloc(1);
  const first = pw.subarray(0, 1);
  for (let i = pw.length; i > 0; i >>= 1) h.update(i & 1 ? nul : first);
  return h.digest();
}

/** The raw 16-byte MD5-crypt digest of `password` with `salt` used in full (no 8-byte cut). */
export function md5CryptDigest(password: Buffer, salt: Buffer): Buffer {
  let final = initialDigest(password, salt);
  for (let i = 0; i < ROUNDS; i++) {
    const h = createHash('md5');
    h.update(i & 1 ? password : final);
    if (i % 3) h.update(salt);
    if (i % 7) h.update(password);
    h.update(i & 1 ? final : password);
    final = h.digest();
  }
  return final;
}

/** The 22-character hash part of an MD5-crypt string. */
export function md5CryptHash(password: Buffer, salt: Buffer): string {
  return encodeCrypt64(md5CryptDigest(password, salt), MD5_CRYPT_GROUPS);
}

/** `$1$<salt>$<hash>` for a UTF-8 password; the salt must not contain `$`. */
export function md5Crypt(password: string, salt: string): string {
  return `$1$${salt}$${md5CryptHash(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'))}`;
}
