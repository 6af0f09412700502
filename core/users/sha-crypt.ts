/**
 * SHA-crypt, `$5$` (SHA-256) and `$6$` (SHA-512), from Ulrich Drepper's specification
 * ("Unix crypt using SHA-256 and SHA-512"), on node:crypto. 3proxy does not know these; we
 * accept them so password files made with `openssl passwd -5/-6` or `mkpasswd` work.
 */
import { createHash } from 'node:crypto';
import { encodeCrypt64 } from './crypt64';

export type ShaAlgorithm = 'sha256' | 'sha512';

/** A parsed salt part: `rounds=N$` (optional) and the salt, already cut to 16 characters. */
export interface ShaSalt {
  readonly salt: Buffer;
  readonly rounds: number;
  /** Whether `rounds=` was written, and so is written back. */
  readonly explicitRounds: boolean;
}

const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;
const MAX_SALT = 16;

/**
 * Output byte order. The spec lists it as triples; they follow a rotation: for SHA-256 the
 * n-th triple starts at (21n mod 30) and steps by 10, for SHA-512 at (22n mod 63) stepping by
 * 21. The leftover bytes close the string.
 */
function buildGroups(triples: number, start: number, step: number, modulo: number, tail: number[]): number[][] {
  const groups: number[][] = [];
  for (let n = 0; n < triples; n++) {
    const first = (n * start) % modulo;
    groups.push([first, (first + step) % modulo, (first + 2 * step) % modulo]);
  }
  groups.push(tail);
  return groups;
}

const GROUPS: Record<ShaAlgorithm, number[][]> = {
  sha256: buildGroups(10, 21, 10, 30, [31, 30]),
  sha512: buildGroups(21, 22, 21, 63, [63]),
};

/** Parses `[rounds=N$]salt` (the text between `$5$`/`$6$` and the hash). */
export function parseShaSalt(spec: string): ShaSalt {
  const m = /^rounds=(\d{1,10})\$/.exec(spec);
  const rest = m ? spec.slice(m[0].length) : spec;
  const requested = m ? Number(m[1]) : DEFAULT_ROUNDS;
  return {
    salt: Buffer.from(rest.slice(0, MAX_SALT), 'utf8'),
    rounds: Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, requested)),
    explicitRounds: m !== null,
  };
}

function hash(alg: ShaAlgorithm, ...parts: Uint8Array[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `source` repeated to exactly `length` bytes. */
function stretch(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += source.length) source.copy(out, i, 0, Math.min(source.length, length - i));
  return out;
}

/** Steps 1-21 of the spec: digest A, then the P and S byte strings. */
function prepare(alg: ShaAlgorithm, pw: Buffer, salt: Buffer): { a: Buffer; p: Buffer; s: Buffer } {
  const b = hash(alg, pw, salt, pw);
  const ha = createHash(alg).update(pw).update(salt).update(stretch(b, pw.length));
  for (let n = pw.length; n > 0; n >>= 1) ha.update(n & 1 ? b : pw);
  const a = ha.digest();
  const dp = createHash(alg);
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const ds = createHash(alg);
  for (let i = 0; i < 16 + (a[0] ?? 0); i++) ds.update(salt);
  return { a, p: stretch(dp.digest(), pw.length), s: stretch(ds.digest(), salt.length) };
}

/** The encoded hash part (43 characters for SHA-256, 86 for SHA-512). */
export function shaCryptHash(alg: ShaAlgorithm, password: Buffer, salt: ShaSalt): string {
  const { a, p, s } = prepare(alg, password, salt.salt);
  let c = a;
  for (let r = 0; r < salt.rounds; r++) {
    const h = createHash(alg);
    h.update(r & 1 ? p : c);
    if (r % 3) h.update(s);
    if (r % 7) h.update(p);
    h.update(r & 1 ? c : p);
    c = h.digest();
  }
  return encodeCrypt64(c, GROUPS[alg]);
}

/** `$5$[rounds=N$]salt$hash` or `$6$…` for a UTF-8 password; `saltSpec` as in {@link parseShaSalt}. */
export function shaCrypt(alg: ShaAlgorithm, password: string, saltSpec: string): string {
  const salt = parseShaSalt(saltSpec);
  const prefix = alg === 'sha256' ? '$5$' : '$6$';
  const rounds = salt.explicitRounds ? `rounds=${salt.rounds}$` : '';
  return `${prefix}${rounds}${salt.salt.toString('utf8')}$${shaCryptHash(alg, Buffer.from(password, 'utf8'), salt)}`;
}
