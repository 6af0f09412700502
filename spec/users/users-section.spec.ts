/**
 * The YAML `users:` section: a name -> "TYPE:secret" map, or `{ file: PATH }` (3proxy
 * `users $PATH`). Schema, shape detection and loading through the runtime.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblem } from '../../core/errors';
import { parseConfigText, validateValue } from '../../config/load';
import { Runtime, schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { silentLogger } from '../../core/logger';
import { usersSection } from '../../core/users';

const schema = schemaFor(builtinRegistries());
const problemsOf = (users: string): string[] => {
  const text = `version: 1\nusers: ${users}\n`;
  const p = parseConfigText(text, 'c.yaml');
  return (p.problems.length > 0 ? p.problems : validateValue(p.value, 'c.yaml', schema, p.source)).map(formatProblem);
};

describe('users: section schema', () => {
  it.each([
    ['a user map', '{ alice: "CL:a", bob: "NT:318EC8F505742D76864CE8B934FC0122" }'],
    ['a relative users file', '{ file: ./passwd }'],
    ['an absolute users file', '{ file: /etc/3proxy/passwd }'],
    ['an empty map', '{}'],
  ])('accepts %s', (_n, users) => {
    expect(problemsOf(users)).toEqual([]);
  });

  it('refuses "file" next to users: it would be either a file or a user named "file"', () => {
    expect(problemsOf('{ file: ./passwd, alice: "CL:a" }')).toEqual(['c.yaml:2:26: /users/alice: unknown key "alice"']);
  });

  it.each(['"CL:secret"', '"CR:$1$salt$hash"', '"NT:318EC8F505742D76864CE8B934FC0122"'])(
    'refuses { file: %s }, a password where a path belongs',
    (value) => {
      expect(problemsOf(`{ file: ${value} }`)).toEqual([expect.stringMatching(/^c\.yaml:2:16: \/users\/file: bad value/)]);
    },
  );

  it('refuses an empty path and non-string values', () => {
    expect(problemsOf('{ file: "" }')).toEqual([expect.stringMatching(/^c\.yaml:2:\d+: \/users\/file: /)]);
    expect(problemsOf('{ file: [a, b] }')).toEqual([expect.stringMatching(/^c\.yaml:2:\d+: \/users\/file: must be string/)]);
    expect(problemsOf('{ alice: 42 }')).toEqual([expect.stringMatching(/^c\.yaml:2:\d+: \/users\/alice: must be string/)]);
  });
});

describe('usersSection', () => {
  it('tells the file form from a map', () => {
    expect(usersSection({ file: './passwd' })).toEqual({ kind: 'file', path: './passwd' });
    expect(usersSection({ alice: 'CL:a' })).toEqual({ kind: 'map', map: { alice: 'CL:a' } });
    expect(usersSection(undefined)).toEqual({ kind: 'map', map: {} });
    // A `file` inherited from the prototype is not the reserved key.
    expect(usersSection(Object.create({ file: './x' }) as object)).toEqual({ kind: 'map', map: {} });
  });
});

describe('users: { file } loaded by the runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-users-section-'));
  const load = (yaml: string): Runtime => Runtime.fromText(`version: 1\n${yaml}\n`, join(dir, 'proxy.yaml'), { logger: silentLogger() });

  it('reads the file relative to the config, in 3proxy format; no user named "file" appears', () => {
    writeFileSync(join(dir, 'passwd'), 'alice:CL:wonderland\nfile:CL:reserved-key-is-fine-here\n');
    const users = load('users: { file: ./passwd }').env.users;
    expect([users.has('alice'), users.has('file')]).toEqual([true, true]);
    expect(users.verify('alice', 'wonderland')).toBe('ok');
    expect(users.verify('file', './passwd')).toBe('bad-password:CL');
    expect(users.verify('file', 'reserved-key-is-fine-here')).toBe('ok');
  });

  it('combines with usersFiles: (users: first, a later entry wins)', () => {
    writeFileSync(join(dir, 'a'), 'alice:CL:one\nbob:CL:b\n');
    writeFileSync(join(dir, 'b'), 'alice:CL:two\n');
    const users = load('users: { file: a }\nusersFiles: [b]').env.users;
    expect([users.verify('alice', 'two'), users.verify('alice', 'one'), users.verify('bob', 'b')]).toEqual(['ok', 'bad-password:CL', 'ok']);
  });

  it('a missing file is a read error naming the resolved path', () => {
    expect(() => load('users: { file: ./nope }')).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_READ', message: expect.stringContaining(join(dir, 'nope')) as string }) as Error);
  });

  it('reading again picks up an edited file (what a reload does)', () => {
    writeFileSync(join(dir, 'p2'), 'alice:CL:old\n');
    expect(load('users: { file: p2 }').env.users.verify('alice', 'old')).toBe('ok');
    writeFileSync(join(dir, 'p2'), 'alice:CL:new\n');
    const after = load('users: { file: p2 }').env.users;
    expect([after.verify('alice', 'new'), after.verify('alice', 'old')]).toEqual(['ok', 'bad-password:CL']);
  });
});
