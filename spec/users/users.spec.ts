import { UserTable, hashPassword, parseUsersFile } from '../../core/users';

const PW = 'ride the wind';

describe('UserTable from a YAML map', () => {
  it('verifies each type and reports which one failed', () => {
    const table = UserTable.fromMap({
      alice: 'CL:wonderland',
      bob: 'CR:$3$shortslt$v7QLJfIMXar2RpffA6fK2/',
      carol: 'NT:318EC8F505742D76864CE8B934FC0122',
      dave: 'bare secret',
    });
    expect(table.size).toBe(4);
    expect(table.warnings).toEqual([]);
    expect(table.verify('alice', 'wonderland')).toBe('ok');
    expect(table.verify('alice', 'Wonderland')).toBe('bad-password:CL');
    expect(table.verify('bob', PW)).toBe('ok');
    expect(table.verify('bob', 'x')).toBe('bad-password:CR');
    expect(table.verify('carol', PW)).toBe('ok');
    expect(table.verify('carol', 'x')).toBe('bad-password:NT');
    expect(table.verify('dave', 'bare secret')).toBe('ok');
    expect(table.verify('eve', 'x')).toBe('unknown-user');
  });

  it('has case-sensitive names and treats prototype names as plain users', () => {
    const table = UserTable.fromMap(JSON.parse('{"Alice":"CL:a","__proto__":"CL:p","constructor":"CL:c"}'));
    expect(table.has('Alice')).toBe(true);
    expect(table.has('alice')).toBe(false);
    expect(table.verify('alice', 'a')).toBe('unknown-user');
    expect(table.verify('__proto__', 'p')).toBe('ok');
    expect(table.verify('constructor', 'c')).toBe('ok');
    expect(table.has('toString')).toBe(false);
  });

  it('skips unknown types and non-strings with warnings, keeps malformed hashes with a warning', () => {
    const table = UserTable.fromMap({ a: 'LM:abc', b: 42, c: 'CR:$1$bad', d: 'CL:' }, 'users');
    expect(table.names()).toEqual(['c', 'd']);
    expect(table.warnings).toEqual([
      expect.stringMatching(/^users\.a: unknown password type "LM".*skipped$/),
      expect.stringMatching(/^users\.b: expected a "TYPE:secret" string, got number; entry skipped$/),
      expect.stringMatching(/^users\.c: malformed \$1\$ crypt string; this user can never log in$/),
      expect.stringMatching(/^users\.d: empty cleartext password: any password is accepted/),
    ]);
    expect(table.verify('c', '')).toBe('bad-password:CR');
  });

  it('verifies bcrypt without blocking through verifyAsync', async () => {
    const table = UserTable.fromMap({ b: 'CR:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' });
    await expect(table.verifyAsync('b', 'U*U')).resolves.toBe('ok');
    await expect(table.verifyAsync('b', 'U*u')).resolves.toBe('bad-password:CR');
    await expect(table.verifyAsync('nobody', 'U*U')).resolves.toBe('unknown-user');
  });
});

describe('3proxy users files', () => {
  const text = [
    '# 3proxy password file',
    'alice:CL:wonderland',
    '  # indented comment',
    'bob:CR:$1$longersaltvalue12$vIKRdy.PKbqMCoTDUKlot/ carol:NT:318EC8F505742D76864CE8B934FC0122',
    '',
    'nocolon',
    'dave:XX:secret eve:plain',
    '"frank:CL:with space"',
    ':CL:noname',
    'alice:CL:second',
  ].join('\n');

  it('parses entries with line numbers and warns about skipped ones', () => {
    const file = parseUsersFile(text, 'passwd');
    expect(file.entries.map((e) => [e.name, e.stored, e.line])).toEqual([
      ['alice', 'CL:wonderland', 2],
      ['bob', 'CR:$1$longersaltvalue12$vIKRdy.PKbqMCoTDUKlot/', 4],
      ['carol', 'NT:318EC8F505742D76864CE8B934FC0122', 4],
      ['eve', 'plain', 7],
      ['frank', 'CL:with space', 8],
      ['alice', 'CL:second', 10],
    ]);
    expect(file.warnings).toEqual([
      'passwd:6: entry "nocolon" has no colon (expected name:TYPE:secret); skipped',
      'passwd:7: unknown password type "XX" (known: CL, CR, NT; upper case); entry skipped',
      'passwd:9: empty user name; entry skipped',
    ]);
  });

  it('builds a table where later entries replace earlier ones', () => {
    const table = UserTable.fromUsersFile(text, 'passwd');
    expect(table.warnings).toHaveLength(3);
    expect(table.verify('alice', 'wonderland')).toBe('bad-password:CL');
    expect(table.verify('alice', 'second')).toBe('ok');
    expect(table.verify('bob', PW)).toBe('ok');
    expect(table.verify('carol', PW)).toBe('ok');
    expect(table.verify('eve', 'plain')).toBe('ok');
    expect(table.verify('frank', 'with space')).toBe('ok');
    expect(table.has('dave')).toBe(false);
  });

  it('combines a map and a file; the later source wins', () => {
    const table = UserTable.fromMap({ alice: 'CL:fromyaml', zed: 'CL:z' }).addUsersFile('alice:CL:fromfile\r\n', 'f');
    expect(table.verify('alice', 'fromfile')).toBe('ok');
    expect(table.verify('zed', 'z')).toBe('ok');
  });
});

describe('loading many users', () => {
  it('loads 10,000 users in well under a second, hashing nothing at load', () => {
    // Every user gets its own MD5-crypt entry: checking them all at load would take many
    // seconds (1000 MD5 rounds each), so the time bound also shows the check is lazy.
    const md5 = hashPassword('md5', 'pw', 'fixedslt').slice(3);
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const kind = i % 4;
      const stored =
        kind === 0
          ? `CL:pw${i}`
          : kind === 1
            ? `CR:${md5}`
            : kind === 2
              ? hashPassword('nt', 'pw')
              : `CR:$3$s${i}$v7QLJfIMXar2RpffA6fK2/`;
      lines.push(`user${i}:${stored}`);
    }
    const text = lines.join('\n');
    const map = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
    const started = process.hrtime.bigint();
    const fromFile = UserTable.fromUsersFile(text, 'big');
    const fromMap = UserTable.fromMap(map);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(ms).toBeLessThan(1000);
    expect(fromFile.size).toBe(10_000);
    expect(fromMap.size).toBe(10_000);
    expect(fromFile.warnings).toEqual([]);
    expect(fromFile.verify('user4', 'pw4')).toBe('ok');
    expect(fromFile.verify('user5', 'pw')).toBe('ok');
    expect(fromMap.verify('user6', 'pw')).toBe('ok');
    expect(fromMap.verify('user9999', 'pw')).toBe('bad-password:CR');
  });
});
