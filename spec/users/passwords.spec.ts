import bcrypt from 'bcryptjs';
import { ERRORS } from '../../core/errors';
import {
  authErrorCode,
  hashPassword,
  parseStoredPassword,
  verifyPassword,
  verifyPasswordAsync,
} from '../../core/users';
import type { HashType } from '../../core/users';

const PW = 'ride the wind';

describe('verifyPassword', () => {
  it.each([
    ['CL:ride the wind', 'CL'],
    ['ride the wind', 'CL'],
    ['CR:$3$shortslt$v7QLJfIMXar2RpffA6fK2/', 'CR'],
    ['CR:$3$longersaltvalue12$VrqsOsPE.zlKK.dv9ixjx1', 'CR'],
    ['CR:$3$shortslt$1LC/QnFpCZDTxiTgKjg51.', 'CR'],
    ['CR:$1$longersaltvalue12$vIKRdy.PKbqMCoTDUKlot/', 'CR'],
    ['NT:318EC8F505742D76864CE8B934FC0122', 'NT'],
    ['NT:318ec8f505742d76864ce8b934fc0122', 'NT'],
  ] as const)('accepts the right password and names the type on failure: %s', (stored, type) => {
    expect(verifyPassword(stored, PW)).toBe('ok');
    expect(verifyPassword(stored, 'ride the wine')).toBe(`bad-password:${type}`);
    expect(verifyPassword(stored, '')).toBe(`bad-password:${type}`);
  });

  it('checks the other vectors', () => {
    expect(verifyPassword('NT:8846f7eaee8fb117ad06bdd830b7586c', 'password')).toBe('ok');
    expect(verifyPassword('CR:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/', 'password')).toBe('ok');
    expect(verifyPassword('CR:$1$saltsaltsalt12$63.NnuAChYeK7aww5mcIv.', 'password')).toBe('ok');
    expect(verifyPassword('CR:$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5', 'Hello world!')).toBe('ok');
    expect(
      verifyPassword('CR:$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA', 'Hello world!'),
    ).toBe('ok');
    const sha512 =
      'CR:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1';
    expect(verifyPassword(sha512, 'Hello world!')).toBe('ok');
    expect(verifyPassword(sha512, 'Hello world?')).toBe('bad-password:CR');
  });

  it('checks bcrypt $2a$, $2b$ and $2y$', async () => {
    const known = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
    expect(verifyPassword(`CR:${known}`, 'U*U')).toBe('ok');
    expect(verifyPassword(`CR:${known.replace('$2a$', '$2y$')}`, 'U*U')).toBe('ok');
    expect(verifyPassword(`CR:${known}`, 'U*V')).toBe('bad-password:CR');
    const b = bcrypt.hashSync(PW, bcrypt.genSaltSync(4));
    expect(b.startsWith('$2b$04$')).toBe(true);
    expect(verifyPassword(`CR:${b}`, PW)).toBe('ok');
    await expect(verifyPasswordAsync(`CR:${b}`, PW)).resolves.toBe('ok');
    await expect(verifyPasswordAsync(`CR:${b}`, 'nope')).resolves.toBe('bad-password:CR');
  });

  it('accepts a real UTF-16LE NT hash for a non-ASCII password as well as 3proxy form', () => {
    const threeProxy = hashPassword('nt', 'pässwörd');
    expect(verifyPassword(threeProxy, 'pässwörd')).toBe('ok');
    // MD4 of "pässwörd" in UTF-16LE, from `iconv -t UTF-16LE | openssl dgst -md4 -provider legacy`.
    expect(verifyPassword('NT:0553152250ac01adb4213cb9938663e4', 'pässwörd')).toBe('ok');
  });

  it('lets any password through an empty cleartext entry (3proxy semantics) and warns', () => {
    expect(verifyPassword('CL:', 'anything')).toBe('ok');
    const parsed = parseStoredPassword('CL:');
    expect(parsed.ok && parsed.warning).toMatch(/any password is accepted/);
  });

  it.each([
    ['CR:$1$saltsalt$tooshort', 'CR'],
    ['CR:$1$nodollar', 'CR'],
    ['CR:$9$salt$hashhashhashhashhashha', 'CR'],
    ['CR:plain', 'CR'],
    ['CR:$2b$04$short', 'CR'],
    ['CR:$5$salt$short', 'CR'],
    ['NT:1234', 'NT'],
    ['NT:zz6f7eaee8fb117ad06bdd830b7586c', 'NT'],
  ])('keeps a malformed %s entry that never matches, with a warning', (stored, type) => {
    const parsed = parseStoredPassword(stored);
    expect(parsed.ok).toBe(true);
    expect(parsed.ok && parsed.warning).toMatch(/never log in/);
    expect(verifyPassword(stored, '')).toBe(`bad-password:${type}`);
    expect(verifyPassword(stored, 'plain')).toBe(`bad-password:${type}`);
  });

  it('treats a secret with no XX: type as cleartext, and an unknown type as an error', () => {
    expect(verifyPassword('CL', 'CL')).toBe('ok');
    expect(verifyPassword('a:b', 'a:b')).toBe('ok');
    expect(verifyPassword('CL:a:b', 'a:b')).toBe('ok');
    expect(() => verifyPassword('LM:abc', 'abc')).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }));
    expect(() => verifyPassword('cl:abc', 'abc')).toThrow(/unknown password type "cl"/);
  });
});

describe('hashPassword', () => {
  const types: HashType[] = ['cr', 'md5', 'blake', 'nt', 'sha256', 'sha512'];

  it.each(types)('%s round-trips through verifyPassword', (type) => {
    const stored = hashPassword(type, PW);
    expect(verifyPassword(stored, PW)).toBe('ok');
    expect(verifyPassword(stored, `${PW}!`)).not.toBe('ok');
  });

  it('makes the documented shapes', () => {
    expect(hashPassword('cr', PW)).toMatch(/^CR:\$3\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{22}$/);
    expect(hashPassword('md5', PW)).toMatch(/^CR:\$1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
    expect(hashPassword('sha256', PW)).toMatch(/^CR:\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
    expect(hashPassword('sha512', PW)).toMatch(/^CR:\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(hashPassword('nt', PW)).toBe('NT:318EC8F505742D76864CE8B934FC0122');
    expect(hashPassword('cr', PW)).not.toBe(hashPassword('cr', PW));
  });

  it('uses a given salt like 3proxy_crypt (cut at 64)', () => {
    expect(hashPassword('cr', PW, 'shortslt')).toBe('CR:$3$shortslt$1LC/QnFpCZDTxiTgKjg51.');
    expect(hashPassword('md5', 'password', 'saltsaltsalt12')).toBe('CR:$1$saltsaltsalt12$63.NnuAChYeK7aww5mcIv.');
    expect(hashPassword('blake', PW, 's'.repeat(80))).toMatch(new RegExp(`^CR:\\$3\\$${'s'.repeat(64)}\\$`));
    expect(hashPassword('sha256', 'Hello world!', 'rounds=10000$saltstringsaltstring')).toBe(
      'CR:$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA',
    );
  });

  it('hashes bcrypt with a given or a random salt', () => {
    const salt = bcrypt.genSaltSync(4);
    const stored = hashPassword('bcrypt', PW, salt);
    expect(stored.startsWith(`CR:${salt}`)).toBe(true);
    expect(verifyPassword(stored, PW)).toBe('ok');
    const random = hashPassword('bcrypt', PW);
    expect(random).toMatch(/^CR:\$2b\$10\$/);
    expect(verifyPassword(random, PW)).toBe('ok');
  });

  it.each([
    ['md5', 'has$dollar'],
    ['cr', ''],
    ['blake', 'has space'],
    ['sha512', 'rounds=5000$'],
    ['bcrypt', 'not-a-salt'],
    ['nt', 'anything'],
  ] as const)('rejects %s with salt %j', (type, salt) => {
    expect(() => hashPassword(type, PW, salt)).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }));
  });
});

describe('authErrorCode', () => {
  it('maps results to the 3proxy codes 5-8', () => {
    expect(authErrorCode('ok')).toBeUndefined();
    const codes = (['unknown-user', 'bad-password:CL', 'bad-password:CR', 'bad-password:NT'] as const).map((r) => {
      const code = authErrorCode(r);
      return code === undefined ? undefined : ERRORS[code].legacy;
    });
    expect(codes).toEqual([5, 6, 7, 8]);
  });
});
