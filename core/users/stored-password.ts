/**
 * Parsing of 3proxy's stored password form `TYPE:secret` (the part after `name:`), done once
 * at load so that verifying a password does no string work.
 *
 * 3proxy's rule (`h_users`): if the two characters after the colon are followed by another
 * colon, they are the type; otherwise the whole rest is a cleartext password. Types are
 * case-sensitive: `CL`, `CR`, `NT`. An unknown type makes 3proxy skip the entry.
 */
import { createHash } from 'node:crypto';
import { parseShaSalt } from './sha-crypt';
import type { ShaSalt } from './sha-crypt';

/** 3proxy's password types; a failure of each has its own result code (6, 7, 8). */
export type PasswordType = 'CL' | 'CR' | 'NT';

/** A stored password, parsed. `never` entries exist (3proxy keeps them) but match nothing. */
export type ParsedPassword =
  | { readonly type: 'CL'; readonly scheme: 'plain'; readonly digest: Buffer; readonly anyPassword: boolean }
  | { readonly type: 'CR'; readonly scheme: 'md5' | 'blake'; readonly salt: Buffer; readonly expected: Buffer }
  | { readonly type: 'CR'; readonly scheme: 'sha256' | 'sha512'; readonly salt: ShaSalt; readonly expected: Buffer }
  | { readonly type: 'CR'; readonly scheme: 'bcrypt'; readonly salt: string; readonly expected: Buffer }
  | { readonly type: 'NT'; readonly scheme: 'nt'; readonly expected: Buffer }
  | { readonly type: 'CR' | 'NT'; readonly scheme: 'never' };

/** A usable entry (maybe with a warning worth showing), or a reason to skip it. */
export type ParseResult =
  | { readonly ok: true; readonly password: ParsedPassword; readonly warning?: string }
  | { readonly ok: false; readonly reason: string };

const HASH_CHARS = /^[./0-9A-Za-z]+$/;
const BCRYPT = /^\$2[aby]\$\d\d\$[./0-9A-Za-z]{53}$/;
const SHA = /^\$([56])\$((?:rounds=\d+\$)?[^$]*)\$([^$]*)$/;
const SHA_LENGTH = { sha256: 43, sha512: 86 } as const;

/** Cleartext is kept only as a SHA-256 digest, so comparing is constant-time whatever the lengths. */
export function clearDigest(password: string): Buffer {
  return createHash('sha256').update(password, 'utf8').digest();
}

function never(type: 'CR' | 'NT', warning: string): ParseResult {
  return { ok: true, password: { type, scheme: 'never' }, warning: `${warning}; this user can never log in` };
}

/** `$1$`/`$3$`: the salt runs to the next `$`, whatever its length (3proxy's `mycrypt`). */
function parseMd5Like(secret: string, scheme: 'md5' | 'blake'): ParseResult {
  const end = secret.indexOf('$', 3);
  const hash = end < 0 ? '' : secret.slice(end + 1);
  if (hash.length !== 22 || !HASH_CHARS.test(hash)) return never('CR', `malformed ${secret.slice(0, 3)} crypt string`);
  const salt = Buffer.from(secret.slice(3, end), 'utf8');
  return { ok: true, password: { type: 'CR', scheme, salt, expected: Buffer.from(hash) } };
}

function parseSha(secret: string): ParseResult {
  const m = SHA.exec(secret);
  const scheme = m?.[1] === '5' ? 'sha256' : 'sha512';
  const hash = m?.[3] ?? '';
  if (!m || hash.length !== SHA_LENGTH[scheme] || !HASH_CHARS.test(hash)) {
    return never('CR', `malformed ${secret.slice(0, 3)} crypt string`);
  }
  return { ok: true, password: { type: 'CR', scheme, salt: parseShaSalt(m[2] ?? ''), expected: Buffer.from(hash) } };
}

function parseCrypt(secret: string): ParseResult {
  const prefix = secret.slice(0, 3);
  if (prefix === '$1$') return parseMd5Like(secret, 'md5');
  if (prefix === '$3$') return parseMd5Like(secret, 'blake');
  if (prefix === '$5$' || prefix === '$6$') return parseSha(secret);
  if (BCRYPT.test(secret)) {
    return {
      ok: true,
      password: { type: 'CR', scheme: 'bcrypt', salt: secret.slice(0, 29), expected: Buffer.from(secret) },
    };
  }
  if (secret.startsWith('$2')) return never('CR', 'malformed bcrypt string');
  return never('CR', `unsupported crypt format "${secret.slice(0, 4)}…" (known: $1$ $3$ $5$ $6$ $2a$ $2b$ $2y$)`);
}

function parseClear(secret: string): ParseResult {
  const password = { type: 'CL', scheme: 'plain', digest: clearDigest(secret), anyPassword: secret === '' } as const;
  if (secret !== '') return { ok: true, password };
  return { ok: true, password, warning: 'empty cleartext password: any password is accepted (3proxy semantics)' };
}

/** Splits `TYPE:secret` (or a bare cleartext secret) and parses the secret. */
export function parseStoredPassword(stored: string): ParseResult {
  if (stored.length < 3 || stored[2] !== ':') return parseClear(stored);
  const type = stored.slice(0, 2);
  const secret = stored.slice(3);
  if (type === 'CL') return parseClear(secret);
  if (type === 'CR') return parseCrypt(secret);
  if (type === 'NT') {
    if (/^[0-9a-fA-F]{32}$/.test(secret))
      return { ok: true, password: { type: 'NT', scheme: 'nt', expected: Buffer.from(secret, 'hex') } };
    return never('NT', 'NT hash is not 32 hex digits');
  }
  return { ok: false, reason: `unknown password type "${type}" (known: CL, CR, NT; upper case)` };
}
