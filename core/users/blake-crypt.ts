/**
 * 3proxy's BLAKE2 crypt, `$3$salt$hash`, what `3proxy_crypt SALT PASSWORD` prints.
 *
 * Digest input: the password bytes, ONE NUL byte (3proxy hashes `strlen(pw) + 1` bytes), then
 * the salt (everything between `$3$` and the next `$`). The first 16 bytes of the digest are
 * written in MD5-crypt's order and alphabet.
 *
 * 3proxy has produced two digests under the same `$3$` tag:
 * - current builds: BLAKE2b-512, first 16 bytes kept (OpenSSL's `EVP_blake2b512`, or the
 *   bundled reference code initialised for 64 bytes);
 * - builds without OpenSSL of the version whose `blake2_compat.h` passed the requested 16
 *   bytes through to the bundled `blake2b_init`: BLAKE2b-128. The digest length is part of
 *   BLAKE2's parameter block, so every output byte differs from the 512-bit variant.
 * We write the first and accept both, so password files from either build keep working.
 * Node's OpenSSL 3.0 only offers the 64-byte variant, hence the small BLAKE2b below.
 */
import { createHash } from 'node:crypto';
import { MD5_CRYPT_GROUPS, encodeCrypt64 } from './crypt64';

const MASK = (1n << 64n) - 1n;
const IV = [
  0x6a09e667f3bcc908n,
  0xbb67ae8584caa73bn,
  0x3c6ef372fe94f82bn,
  0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n,
  0x9b05688c2b3e6c1fn,
  0x1f83d9abfb41bd6bn,
  0x5be0cd19137e2179n,
] as const;
const SIGMA: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
/** Column then diagonal (a, b, c, d) quadruples of one round (RFC 7693 §3.2). */
const LANES = [
  [0, 4, 8, 12],
  [1, 5, 9, 13],
  [2, 6, 10, 14],
  [3, 7, 11, 15],
  [0, 5, 10, 15],
  [1, 6, 11, 12],
  [2, 7, 8, 13],
  [3, 4, 9, 14],
] as const;

const rotr = (x: bigint, n: bigint): bigint => ((x >> n) | (x << (64n - n))) & MASK;

function mix(v: bigint[], lane: readonly number[], x: bigint, y: bigint): void {
  const [ia = 0, ib = 0, ic = 0, id = 0] = lane;
  let a = v[ia] ?? 0n;
  let b = v[ib] ?? 0n;
  let c = v[ic] ?? 0n;
  let d = v[id] ?? 0n;
  a = (a + b + x) & MASK;
  d = rotr(d ^ a, 32n);
  c = (c + d) & MASK;
  b = rotr(b ^ c, 24n);
  a = (a + b + y) & MASK;
  d = rotr(d ^ a, 16n);
  c = (c + d) & MASK;
  b = rotr(b ^ c, 63n);
  v[ia] = a;
  v[ib] = b;
  v[ic] = c;
  v[id] = d;
}

/** The compression function F on one 128-byte block; `counter` counts bytes so far. */
function compress(h: bigint[], block: Buffer, counter: bigint, last: boolean): void {
  const m: bigint[] = [];
  for (let i = 0; i < 16; i++) m.push(block.readBigUInt64LE(i * 8));
  const v = [...h, ...IV];
  v[12] = v[12]! ^ (counter & MASK);
  v[13] = v[13]! ^ (counter >> 64n);
  if (last) v[14] = v[14]! ^ MASK;
  for (let round = 0; round < 12; round++) {
    const s = SIGMA[round % 10]!;
    LANES.forEach((lane, i) => mix(v, lane, m[s[2 * i]!]!, m[s[2 * i + 1]!]!));
  }
  for (let i = 0; i < 8; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 8]!;
}

/**
 * Unkeyed BLAKE2b with an `outLength`-byte digest (1..64), per RFC 7693. BigInt arithmetic:
 * slow per byte, but a password and salt fit in one or two blocks, and only the legacy
 * 16-byte variant needs it.
 */
export function blake2b(data: Uint8Array, outLength: number): Buffer {
  const h: bigint[] = [...IV];
  h[0] = h[0]! ^ 0x01010000n ^ BigInt(outLength);
  const input = Buffer.from(data);
  let offset = 0;
  while (input.length - offset > 128) {
    compress(h, input.subarray(offset, offset + 128), BigInt(offset + 128), false);
    offset += 128;
  }
  const last = Buffer.alloc(128);
  input.copy(last, 0, offset);
  compress(h, last, BigInt(input.length), true);
  const out = Buffer.alloc(64);
  h.forEach((word, i) => out.writeBigUInt64LE(word, i * 8));
  return out.subarray(0, outLength);
}

function digestInput(password: Buffer, salt: Buffer): Buffer {
  return Buffer.concat([password, Buffer.alloc(1), salt]);
}

/** Hash parts of both `$3$` variants: [current BLAKE2b-512/16, legacy BLAKE2b-128]. */
export function blakeCryptHashes(password: Buffer, salt: Buffer): [current: string, legacy: string] {
  const input = digestInput(password, salt);
  const current = createHash('blake2b512').update(input).digest().subarray(0, 16);
  return [encodeCrypt64(current, MD5_CRYPT_GROUPS), encodeCrypt64(blake2b(input, 16), MD5_CRYPT_GROUPS)];
}

/** The 22-character hash part current 3proxy writes for `$3$`. */
export function blakeCryptHash(password: Buffer, salt: Buffer): string {
  const digest = createHash('blake2b512').update(digestInput(password, salt)).digest();
  return encodeCrypt64(digest.subarray(0, 16), MD5_CRYPT_GROUPS);
}

/** `$3$<salt>$<hash>` as current 3proxy_crypt prints it (after `CR:`). */
export function blakeCrypt(password: string, salt: string): string {
  return `$3$${salt}$${blakeCryptHash(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'))}`;
}
