import { compileHostPatterns, compileUserPatterns, normalizeHost } from '../../core/acl/host-pattern';
import { thrown } from './request';

describe('host patterns', () => {
  it.each([
    // [pattern, host (as normalizeHost gives it), expected]
    ['example.com', 'example.com', true],
    ['example.com', 'www.example.com', false],
    ['EXAMPLE.com', 'example.com', true], // patterns fold case too
    ['*example.com', 'www.example.com', true],
    ['*example.com', 'badexample.com', true],
    ['*example.com', 'example.com', false], // *suffix needs a strictly longer host
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '.example.com', false],
    ['www.*', 'www.example.com', true],
    ['www.*', 'www.', true],
    ['www.*', 'ww.example.com', false],
    ['*ample*', 'example.com', true],
    ['*ample*', 'ample', true],
    ['*ample*', 'exampl.com', false],
    ['1.2.3.*', '1.2.3.4', true], // address text is a host string for patterns
  ])('%s vs %s: %s', (pattern, host, expected) => {
    expect(compileHostPatterns([pattern])(host)).toBe(expected);
  });

  it('matches when any pattern does', () => {
    const test = compileHostPatterns(['a.com', '*.b.com', 'c*']);
    expect(['a.com', 'x.b.com', 'cx'].map(test)).toEqual([true, true, true]);
    expect(test('b.com')).toBe(false);
  });

  it.each([
    ['WWW.Example.COM', 'www.example.com'],
    ['example.com.', 'example.com'],
    ['x.co..', 'x.co'],
    ['a.', 'a'],
    ['', ''],
  ])('normalizeHost(%j) = %j', (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
  });

  it.each([
    ['a*b', 'only at the start'],
    ['**', 'nothing between'],
    ['', 'empty name'],
    ['a b', 'white space'],
  ])('rejects %j', (pattern, why) => {
    const err = thrown(() => compileHostPatterns([pattern], '/t'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(why);
    expect(err.message).toContain(`"${pattern}"`);
  });
});

describe('user patterns', () => {
  it.each([
    ['alice', 'alice', true],
    ['alice', 'Alice', false], // case-sensitive, as 3proxy
    ['alice', 'alice2', false],
    ['b*', 'bob', true],
    ['b*', 'b', true], // glob: * may match nothing
    ['b*', 'Bob', false],
    ['*@corp', 'ann@corp', true],
    ['*@corp', '@corp', true],
    ['*adm*', 'sysadmin', true],
    ['*adm*', 'user', false],
    ['-', '-', true], // the name a request without a user has
  ])('%s vs %s: %s', (pattern, user, expected) => {
    expect(compileUserPatterns([pattern])(user)).toBe(expected);
  });
});
