import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { blake2b, blakeCrypt, blakeCryptHashes } from '../../core/users/blake-crypt';
import { CRYPT_ALPHABET, randomCryptSalt } from '../../core/users/crypt64';
import { md5Crypt } from '../../core/users/md5crypt';
import { ntHash3proxy, ntHashCandidates, ntHashUnicode } from '../../core/users/nt-hash';
import { parseShaSalt, shaCrypt } from '../../core/users/sha-crypt';

const openssl = (args: string[], input?: Buffer): string =>
  execFileSync('openssl', args, input === undefined ? {} : { input })
    .toString()
    .trim();

describe('MD5-crypt ($1$)', () => {
  it.each([
    ['password', 'saltsalt'],
    ['password', 'abc'],
    ['', 'abc'],
    ['ride the wind', 'x'],
    ['sixteen chars!!!', '12345678'],
    ['a password longer than thirty-two bytes, crossing blocks', './AZaz09'],
    ['pässwörd ünïcode', 'Ab3'],
  ])('matches openssl passwd -1 for %j with salt %j (salts of 8 or fewer agree everywhere)', (pw, salt) => {
    expect(md5Crypt(pw, salt)).toBe(openssl(['passwd', '-1', '-salt', salt, pw]));
  });

  // 3proxy keeps the whole salt; openssl and glibc cut it to 8. Expected values come from an
  // independent implementation: passlib 1.7.4's _raw_md5_crypt (Debian python3-passlib) run
  // under `python3 -O`, which drops its `len(salt) < 9` assert and otherwise hashes the
  // salt bytes as given - the same thing mycrypt.c does with sl = ep - sp.
  it.each([
    ['password', 'saltsaltsalt12', '63.NnuAChYeK7aww5mcIv.'],
    ['ride the wind', 'longersaltvalue12', 'vIKRdy.PKbqMCoTDUKlot/'],
    ['x'.repeat(40), 'a'.repeat(64), 'TFBH1A/570Tb1.VZnv54h1'],
    ['', 'abcdefghijk', 'BVr7.pWE981.F37YR55wd/'],
  ])('uses the whole salt past 8 characters like 3proxy (%j, %j)', (pw, salt, hash) => {
    expect(md5Crypt(pw, salt)).toBe(`$1$${salt}$${hash}`);
  });

  it('does not truncate: a long salt differs from its first 8 characters', () => {
    const cut = openssl(['passwd', '-1', '-salt', 'abcdefghij', 'password']);
    expect(cut.startsWith('$1$abcdefgh$')).toBe(true);
    expect(md5Crypt('password', 'abcdefghij').split('$')[3]).not.toBe(cut.split('$')[3]);
  });
});

describe('3proxy BLAKE2 crypt ($3$)', () => {
  it('reproduces the legacy BLAKE2b-128 vectors', () => {
    const pw = Buffer.from('ride the wind');
    expect(blakeCryptHashes(pw, Buffer.from('shortslt'))[1]).toBe('v7QLJfIMXar2RpffA6fK2/');
    expect(blakeCryptHashes(pw, Buffer.from('longersaltvalue12'))[1]).toBe('VrqsOsPE.zlKK.dv9ixjx1');
  });

  it('writes the current form: BLAKE2b-512 of password, NUL, salt, first 16 bytes', () => {
    const digest = createHash('blake2b512').update('ride the wind\0shortslt').digest();
    const hash = blakeCrypt('ride the wind', 'shortslt');
    expect(hash).toBe('$3$shortslt$1LC/QnFpCZDTxiTgKjg51.');
    // Same packing as MD5-crypt: bytes 0, 6, 12 make the first four characters.
    const first = (digest[0]! << 16) | (digest[6]! << 8) | digest[12]!;
    const chars = [0, 6, 12, 18].map((shift) => CRYPT_ALPHABET[(first >> shift) & 63]).join('');
    expect(hash.split('$')[3]!.slice(0, 4)).toBe(chars);
  });

  it.each([0, 1, 64, 127, 128, 129, 255, 256, 300])('own BLAKE2b equals node blake2b512 on %i bytes', (n) => {
    const data = Buffer.alloc(n, n & 0xff).map((b, i) => (b + i * 31) & 0xff);
    expect(blake2b(data, 64).equals(createHash('blake2b512').update(data).digest())).toBe(true);
  });

  it('own BLAKE2b matches the RFC 7693 appendix A "abc" vector', () => {
    expect(blake2b(Buffer.from('abc'), 64).toString('hex').slice(0, 32)).toBe('ba80a53f981c4d0d6a2797b69f12f6e9');
  });
});

describe('SHA-crypt ($5$ / $6$)', () => {
  it('matches the specification vectors (also what openssl prints)', () => {
    expect(shaCrypt('sha256', 'Hello world!', 'saltstring')).toBe(
      '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5',
    );
    expect(shaCrypt('sha512', 'Hello world!', 'saltstring')).toBe(
      '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    );
    expect(shaCrypt('sha256', 'Hello world!', 'rounds=10000$saltstringsaltstring')).toBe(
      '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA',
    );
  });

  it.each([
    ['-5', 'sha256', 'password', 'abcdefgh'],
    ['-6', 'sha512', 'password', 'abcdefgh'],
    ['-5', 'sha256', 'a'.repeat(70), '0123456789abcdefXYZ'],
    ['-6', 'sha512', 'pässwörd', 'rounds=1234$0123456789abcdefXYZ'],
    ['-5', 'sha256', 'x', 'rounds=1000$s'],
  ] as const)('matches openssl passwd %s (%s) for %j with salt %j', (flag, alg, pw, salt) => {
    expect(shaCrypt(alg, pw, salt)).toBe(openssl(['passwd', flag, '-salt', salt, pw]));
  });

  it('clamps rounds to 1000..999999999 and cuts salts at 16', () => {
    expect(parseShaSalt('rounds=10$abc').rounds).toBe(1000);
    expect(parseShaSalt('rounds=9999999999$abc').rounds).toBe(999_999_999);
    expect(parseShaSalt('abc').rounds).toBe(5000);
    expect(parseShaSalt('0123456789abcdefXYZ').salt.toString()).toBe('0123456789abcdef');
  });
});

describe('NT hash', () => {
  const md4 = (input: Buffer): string =>
    openssl(['dgst', '-md4', '-provider', 'legacy', '-provider', 'default'], input).replace(/^.*= /, '');

  it('matches the known vectors', () => {
    expect(ntHash3proxy(Buffer.from('password')).toString('hex')).toBe('8846f7eaee8fb117ad06bdd830b7586c');
    expect(ntHash3proxy(Buffer.from('ride the wind')).toString('hex').toUpperCase()).toBe(
      '318EC8F505742D76864CE8B934FC0122',
    );
  });

  it.each(['password', 'ride the wind', '', 'x'.repeat(100)])('matches openssl MD4 over UTF-16LE for %j', (pw) => {
    expect(ntHashUnicode(pw).toString('hex')).toBe(md4(Buffer.from(pw, 'utf16le')));
    expect(ntHash3proxy(Buffer.from(pw)).toString('hex')).toBe(md4(Buffer.from(pw, 'utf16le')));
  });

  it('follows 3proxy for non-ASCII (byte + NUL per UTF-8 byte) and also offers real UTF-16LE', () => {
    const pw = 'pässwörd';
    const interleaved = Buffer.concat([...Buffer.from(pw)].map((b) => Buffer.from([b, 0])));
    const [threeProxy, unicode] = ntHashCandidates(pw);
    expect(threeProxy!.toString('hex')).toBe(md4(interleaved));
    expect(unicode!.toString('hex')).toBe(md4(Buffer.from(pw, 'utf16le')));
    expect(ntHashCandidates('ascii')).toHaveLength(1);
  });

  it('uses at most 255 password bytes, like 3proxy', () => {
    expect(ntHash3proxy(Buffer.from('y'.repeat(300))).equals(ntHash3proxy(Buffer.from('y'.repeat(255))))).toBe(true);
  });
});

describe('random salts', () => {
  it('draws from the crypt alphabet', () => {
    const salt = randomCryptSalt(64);
    expect(salt).toMatch(/^[./0-9A-Za-z]{64}$/);
    expect(randomCryptSalt(16)).not.toBe(randomCryptSalt(16));
  });
});
