/**
 * Checking a password against 3proxy's stored forms, and making stored forms.
 *
 * Stored forms (`users name:TYPE:secret`, our YAML `users: { name: "TYPE:secret" }`):
 * - `CL:plain`, or a bare `plain`: cleartext;
 * - `CR:$1$salt$hash` MD5-crypt with 3proxy's uncut salt, `CR:$3$salt$hash` 3proxy's BLAKE2
 *   crypt, and beyond 3proxy `CR:$2a$/$2b$/$2y$` bcrypt and `CR:$5$`/`CR:$6$` SHA-crypt;
 * - `NT:<32 hex>`: the NT hash (case-insensitive hex).
 * Every comparison goes through `crypto.timingSafeEqual`.
 */
import bcrypt from 'bcryptjs';
import { proxyError } from '../errors';
import type { ErrorCode } from '../errors';
import { randomCryptSalt, safeEqual } from './crypt64';
import { blakeCrypt, blakeCryptHashes } from './blake-crypt';
import { md5Crypt, md5CryptHash } from './md5crypt';
import { ntHash3proxy, ntHashCandidates } from './nt-hash';
import { shaCrypt, shaCryptHash } from './sha-crypt';
import { clearDigest, parseStoredPassword } from './stored-password';
import type { ParsedPassword, PasswordType } from './stored-password';

/** `ok`, or which kind of stored password did not match (3proxy result 6, 7 or 8). */
export type VerifyResult = 'ok' | `bad-password:${PasswordType}`;

/** What `hashPassword` can make. `cr` is what `3proxy_crypt SALT PASSWORD` makes (`$3$`). */
export type HashType = 'cr' | 'md5' | 'blake' | 'nt' | 'bcrypt' | 'sha256' | 'sha512';

const BCRYPT_SALT = /^\$2[aby]\$\d\d\$[./0-9A-Za-z]{22}$/;
const BCRYPT_COST = 10;
/** 3proxy_crypt cuts the salt at 64 characters. */
const MAX_3PROXY_SALT = 64;

function result(match: boolean, type: PasswordType): VerifyResult {
  return match ? 'ok' : `bad-password:${type}`;
}

/** Everything but bcrypt, whose cost is the caller's choice of sync or async. */
function verifyFast(p: Exclude<ParsedPassword, { scheme: 'bcrypt' }>, password: string): VerifyResult {
  const bytes = (): Buffer => Buffer.from(password, 'utf8');
  switch (p.scheme) {
    case 'plain':
      return result(p.anyPassword || safeEqual(clearDigest(password), p.digest), 'CL');
    case 'md5':
      return result(safeEqual(Buffer.from(md5CryptHash(bytes(), p.salt)), p.expected), 'CR');
    case 'blake': {
      // Both variants are always computed, so timing does not tell which one matched.
      const [current, legacy] = blakeCryptHashes(bytes(), p.salt).map((h) => safeEqual(Buffer.from(h), p.expected));
      return result(current === true || legacy === true, 'CR');
    }
    case 'sha256':
    case 'sha512':
      return result(safeEqual(Buffer.from(shaCryptHash(p.scheme, bytes(), p.salt)), p.expected), 'CR');
    case 'nt': {
      const matches = ntHashCandidates(password).map((h) => safeEqual(h, p.expected));
      return result(matches.includes(true), 'NT');
    }
    case 'never':
      return `bad-password:${p.type}`;
  }
}

/**
 * Checks `password` against an already parsed stored password (what `UserTable` keeps).
 * Synchronous: a bcrypt check blocks the event loop for its whole cost (about 50-100 ms at
 * cost 10 in bcryptjs); prefer {@link verifyParsedAsync} on a serving path.
 */
export function verifyParsed(p: ParsedPassword, password: string): VerifyResult {
  if (p.scheme !== 'bcrypt') return verifyFast(p, password);
  return result(safeEqual(Buffer.from(bcrypt.hashSync(password, p.salt)), p.expected), 'CR');
}

/** Same as {@link verifyParsed}, but bcrypt yields to the event loop while it works. */
export async function verifyParsedAsync(p: ParsedPassword, password: string): Promise<VerifyResult> {
  if (p.scheme !== 'bcrypt') return verifyFast(p, password);
  return result(safeEqual(Buffer.from(await bcrypt.hash(password, p.salt)), p.expected), 'CR');
}

function parseOrThrow(stored: string): ParsedPassword {
  const parsed = parseStoredPassword(stored);
  if (!parsed.ok) throw proxyError('PRX_ERR_CONFIG_VALUE', 'stored password', parsed.reason);
  return parsed.password;
}

/**
 * Checks `password` against a stored form `TYPE:secret` (bare `secret` = cleartext). A stored
 * form that is malformed but of a known type never matches (3proxy keeps such entries); an
 * unknown type throws `PRX_ERR_CONFIG_VALUE`.
 */
export function verifyPassword(stored: string, password: string): VerifyResult {
  return verifyParsed(parseOrThrow(stored), password);
}

/** {@link verifyPassword} with a non-blocking bcrypt. */
export function verifyPasswordAsync(stored: string, password: string): Promise<VerifyResult> {
  return verifyParsedAsync(parseOrThrow(stored), password);
}

/** The 3proxy error code for a failed check (`ok` maps to undefined). */
export function authErrorCode(verdict: VerifyResult | 'unknown-user'): ErrorCode | undefined {
  switch (verdict) {
    case 'ok':
      return undefined;
    case 'unknown-user':
      return 'PRX_ERR_AUTH_UNKNOWN_USER';
    case 'bad-password:CL':
      return 'PRX_ERR_AUTH_BAD_PASSWORD';
    case 'bad-password:CR':
      return 'PRX_ERR_AUTH_BAD_CRYPT';
    case 'bad-password:NT':
      return 'PRX_ERR_AUTH_BAD_NT';
  }
}

/** A salt for `$1$`/`$3$`: the given one (cut at 64 like 3proxy_crypt) or `randomLength` random characters. */
function cryptSalt(salt: string | undefined, randomLength: number): string {
  if (salt === undefined) return randomCryptSalt(randomLength);
  if (salt === '' || /[$\s\0]/.test(salt)) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', `salt "${salt}"`, 'must be non-empty, without "$", spaces or NUL');
  }
  return salt.slice(0, MAX_3PROXY_SALT);
}

function shaSalt(salt: string | undefined): string {
  if (salt === undefined) return randomCryptSalt(16);
  const text = salt.replace(/^rounds=\d+\$/, '');
  if (text === '' || /[$\s\0]/.test(text)) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', `salt "${salt}"`, 'expected [rounds=N$]SALT, SALT without "$" or spaces');
  }
  return salt;
}

function bcryptHash(password: string, salt: string | undefined): string {
  if (salt !== undefined && !BCRYPT_SALT.test(salt)) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', `bcrypt salt "${salt}"`, 'expected $2b$NN$ and 22 crypt characters');
  }
  return bcrypt.hashSync(password, salt ?? bcrypt.genSaltSync(BCRYPT_COST));
}

/**
 * Makes a stored form with its type prefix: `CR:$3$…`, `CR:$1$…`, `NT:…`, `CR:$2b$…`,
 * `CR:$5$…`, `CR:$6$…`. Without `salt`, a random one is drawn (crypto.randomBytes): 16 crypt
 * characters for `$3$` and SHA-crypt, 8 for `$1$` (so glibc and OpenSSL can check it too),
 * bcryptjs's own for bcrypt (cost 10). SHA-crypt salts may start with `rounds=N$`; bcrypt
 * salts are full `$2b$NN$…` strings. NT takes no salt.
 */
export function hashPassword(type: HashType, password: string, salt?: string): string {
  switch (type) {
    case 'cr':
    case 'blake':
      return `CR:${blakeCrypt(password, cryptSalt(salt, 16))}`;
    case 'md5':
      return `CR:${md5Crypt(password, cryptSalt(salt, 8))}`;
    case 'sha256':
    case 'sha512':
      return `CR:${shaCrypt(type, password, shaSalt(salt))}`;
    case 'bcrypt':
      return `CR:${bcryptHash(password, salt)}`;
    case 'nt':
      if (salt !== undefined) throw proxyError('PRX_ERR_CONFIG_VALUE', 'salt', 'NT hashes take no salt');
      return `NT:${ntHash3proxy(Buffer.from(password, 'utf8')).toString('hex').toUpperCase()}`;
  }
}
