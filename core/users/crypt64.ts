/**
 * The crypt(3) flavour of base 64, shared by MD5-crypt (`$1$`), 3proxy's BLAKE2 crypt (`$3$`)
 * and SHA-crypt (`$5$`/`$6$`). It differs from RFC 4648: another alphabet, and the bytes are
 * picked in a scheme-specific order and written least significant 6 bits first.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** The crypt alphabet, `./0-9A-Za-z`. */
export const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Encodes `bytes` group by group. A group lists byte indices, most significant first: three
 * indices give 4 characters, two give 3, one gives 2 (what `_crypt_to64` and `b64_from_24bit` do).
 */
export function encodeCrypt64(bytes: Uint8Array, groups: readonly (readonly number[])[]): string {
  let out = '';
  for (const group of groups) {
    let value = 0;
    for (const index of group) value = (value << 8) | (bytes[index] ?? 0);
    for (let n = group.length + 1; n > 0; n--) {
      out += CRYPT_ALPHABET[value & 0x3f];
      value >>>= 6;
    }
  }
  return out;
}

/** MD5-crypt's byte order, which 3proxy's `$3$` reuses for its 16-byte digest. */
export const MD5_CRYPT_GROUPS: readonly (readonly number[])[] = [
  [0, 6, 12],
  [1, 7, 13],
  [2, 8, 14],
  [3, 9, 15],
  [4, 10, 5],
  [11],
];

/** `length` random characters from the crypt alphabet (256 is a multiple of 64, so no bias). */
export function randomCryptSalt(length: number): string {
  const bytes = randomBytes(length);
  let salt = '';
  for (const b of bytes) salt += CRYPT_ALPHABET[b & 0x3f];
  return salt;
}

/**
 * Constant-time comparison of two byte strings. Lengths are compared first: the length of a
 * stored hash is public (it is fixed by the scheme), only its content must not leak.
 */
export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
