/**
 * The NT hash (MD4 of the password in UTF-16LE), as 3proxy's `ntpwdhash()` computes it.
 *
 * 3proxy does not convert to UTF-16: it puts a zero byte after each byte of the password as
 * received (UTF-8 on the wire for non-ASCII) and uses at most 255 of them. For ASCII that is
 * exactly UTF-16LE; for other characters it is not, and Windows-made NT hashes use real
 * UTF-16LE. We accept both forms and write 3proxy's.
 */
import md4 from 'js-md4';

const MAX_BYTES = 255;

function md4Digest(data: Uint8Array): Buffer {
  // js-md4's create() path is pure JS; see js-md4.d.ts for why the module call is avoided.
  return Buffer.from(md4.create().update(data).arrayBuffer());
}

/** 3proxy's NT hash of raw password bytes: each byte followed by a zero byte, 255 at most. */
export function ntHash3proxy(password: Uint8Array): Buffer {
  const n = Math.min(password.length, MAX_BYTES);
  const wide = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) wide[i * 2] = password[i] ?? 0;
  return md4Digest(wide);
}

/** The standard (Windows) NT hash: MD4 over the password in UTF-16LE. */
export function ntHashUnicode(password: string): Buffer {
  return md4Digest(Buffer.from(password, 'utf16le'));
}

/** Every NT hash that counts as a match for `password`: 3proxy's form, then the standard one if it differs. */
export function ntHashCandidates(password: string): Buffer[] {
  const utf8 = Buffer.from(password, 'utf8');
  const ascii = utf8.length === password.length && utf8.length <= MAX_BYTES;
  return ascii ? [ntHash3proxy(utf8)] : [ntHash3proxy(utf8), ntHashUnicode(password)];
}
