import type * as FsModule from 'node:fs';
import { main } from '../../cli';
import { UserTable } from '../../core/users';

let mockStdin = '';
// cli.ts reads the password with readFileSync(0): stdin (fd 0) comes from mockStdin here.
jest.mock('node:fs', () => {
  const real = jest.requireActual<typeof FsModule>('node:fs');
  return { ...real, readFileSync: (p: number | string, o?: BufferEncoding) => (p === 0 ? mockStdin : real.readFileSync(p, o)) };
});

/** Runs `rx3proxy hash ...` with `input` as stdin; returns the exit code and stdout. */
async function hash(args: string[], input: string): Promise<{ code: number; out: string; err: string }> {
  mockStdin = input;
  let out = '';
  let err = '';
  const w = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    return { code: await main(['hash', ...args]), out, err };
  } finally {
    w.mockRestore();
    e.mockRestore();
  }
}

describe('rx3proxy hash', () => {
  it('nt gives the 3proxy NT hash (vector from the issue)', async () => {
    const r = await hash(['--type', 'nt'], 'ride the wind\n');
    expect(r).toMatchObject({ code: 0, out: 'NT:318EC8F505742D76864CE8B934FC0122\n' });
  });

  const types: [string, RegExp][] = [
    ['cr', /^CR:\$3\$/],
    ['md5', /^CR:\$1\$/],
    ['bcrypt', /^CR:\$2[aby]\$/],
    ['sha256', /^CR:\$5\$/],
    ['sha512', /^CR:\$6\$/],
  ];
  it.each(types)('--type %s makes a hash the user table accepts', async (type, shape) => {
    const r = await hash(['--type', type], 'ride the wind\n');
    expect(r.code).toBe(0);
    const line = r.out.trim();
    expect(line).toMatch(shape);
    const users = UserTable.fromMap({ u: line });
    expect([users.verify('u', 'ride the wind'), users.verify('u', 'ride the wind\n')]).toEqual(['ok', 'bad-password:CR']);
  });

  it('defaults to cr ($3$)', async () => {
    expect((await hash([], 'pw')).out).toMatch(/^CR:\$3\$/);
  });

  it('rejects an unknown type with a usage exit code', async () => {
    const r = await hash(['--type', 'rot13'], 'pw');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown hash type "rot13"/);
  });

  it('--salt makes the hash reproducible: md5 matches openssl passwd -1 with the same salt', async () => {
    const r = await hash(['--type', 'md5', '--salt', 'abcdefgh'], 'ride the wind\n');
    // openssl passwd -1 -salt abcdefgh "ride the wind"
    expect(r).toMatchObject({ code: 0, out: 'CR:$1$abcdefgh$nIQLbGOxJ3VHH38Y098Vt.\n' });
    const again = await hash(['--type', 'cr', '--salt', 'shortslt'], 'ride the wind\n');
    expect(again.out).toMatch(/^CR:\$3\$shortslt\$[./0-9A-Za-z]{22}\n$/);
    expect((await hash(['--type', 'cr', '--salt', 'shortslt'], 'ride the wind\n')).out).toBe(again.out);
  });

  it('a salt where the type takes none is a usage error', async () => {
    const r = await hash(['--type', 'nt', '--salt', 'x'], 'pw');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/NT hashes take no salt/);
  });
});
