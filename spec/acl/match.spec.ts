import { OPERATIONS } from '../../core/session';
import type { Operation } from '../../core/session';
import { compileMatch, compileOperations, firstMatch, matchesAny, namesUsers, walkMatches } from '../../core/acl';
import type { AclRequest, MatchSpec } from '../../core/acl';
import { req, thrown } from './request';

const matches = (spec: MatchSpec, over: Partial<AclRequest>): boolean => compileMatch(spec)(req(over));

describe('compileMatch: fields', () => {
  it('matches anything with no fields, or with "*" lists', () => {
    expect(matches({}, {})).toBe(true);
    const any: MatchSpec = { users: ['*'], sources: ['*'], targets: ['*'], ports: ['*'], operations: ['*'], weekdays: ['*'], times: ['*'] };
    expect(matches(any, { user: null, port: 1, operation: 'BIND' })).toBe(true);
  });

  it.each([
    [['alice'], 'alice', true],
    [['alice'], 'ALICE', false],
    [['alice'], null, false],
    [['-'], null, true], // no user matches only the literal "-"
    [['-'], 'alice', false],
    [['b*'], 'bob', true],
    [['b*'], null, false],
    [[123], '123', true], // YAML numbers become names
  ])('users %j vs %j: %s', (users, user, expected) => {
    expect(matches({ users }, { user })).toBe(expected);
  });

  it.each([
    [['10.0.0.0/8'], '10.1.2.3', true],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    [['10.0.0.0/8'], '192.168.0.1', false],
    [['10.1.0.1-10.1.0.9', '::1'], '::1', true],
    [['::1'], '127.0.0.1', false],
    [['0.0.0.0/0'], '', false], // no address (a unix socket) fails a sources rule
  ])('sources %j vs %s: %s', (sources, clientAddress, expected) => {
    expect(matches({ sources }, { clientAddress })).toBe(expected);
  });

  it.each([
    // IP entries compare with the requested address, or the host when it is address text
    [['192.0.2.0/24'], 'www.example.com', '192.0.2.9', true],
    [['192.0.2.0/24'], 'www.example.com', '198.51.100.1', false],
    [['192.0.2.0/24'], '192.0.2.9', null, true],
    [['2001:db8::/32'], '[2001:db8::1]', null, true],
    [['192.0.2.0/24'], 'www.example.com', null, false], // an unresolved name fails IP-only rules
    // host patterns compare with the host name, case-insensitively, trailing dot removed
    [['*.example.com'], 'WWW.Example.COM.', '192.0.2.9', true],
    [['*.example.com'], 'example.com', '192.0.2.9', false],
    [['*example.com', 'example.com'], 'example.com', null, true],
    [['*.example.com'], '192.0.2.9', '192.0.2.9', false],
    [['192.0.2.*'], '192.0.2.9', '192.0.2.9', true], // address text is a host for patterns
    [['*.example.com', '192.0.2.0/24'], 'other.org', '192.0.2.9', true],
    [['*.example.com', '192.0.2.0/24'], 'a.example.com', '203.0.113.1', true],
    [['*.example.com', '192.0.2.0/24'], 'other.org', '203.0.113.1', false],
    // neither an address nor a host: the field counts as matched (3proxy)
    [['*.example.com'], '', null, true],
    [['192.0.2.0/24'], '', null, true],
  ])('targets %j vs host %j address %j: %s', (targets, targetHost, targetAddress, expected) => {
    expect(matches({ targets }, { targetHost, targetAddress })).toBe(expected);
  });

  it('checks BIND even with no target address (3proxy)', () => {
    expect(matches({ targets: ['192.0.2.0/24'] }, { targetHost: '', targetAddress: null, operation: 'BIND' })).toBe(false);
    expect(matches({ targets: ['*.example.com'] }, { targetHost: '', targetAddress: null, operation: 'BIND' })).toBe(true);
  });

  it.each([
    [[80], 80, true],
    [[80], 81, false],
    [['80'], 80, true],
    [['8000-8100'], 8000, true],
    [['8000-8100'], 8100, true],
    [['8000-8100'], 8101, false],
    [[80, '1024-65535'], 443, false],
    [[80, '1024-65535'], 65535, true],
    [[80], 0, true], // port 0 skips the check
  ])('ports %j vs %d: %s', (ports, port, expected) => {
    expect(matches({ ports }, { port })).toBe(expected);
  });

  it('checks port 0 for BIND (3proxy)', () => {
    expect(matches({ ports: [80] }, { port: 0, operation: 'BIND' })).toBe(false);
    expect(matches({ ports: ['0-1023'] }, { port: 0, operation: 'BIND' })).toBe(true);
  });

  const http: Operation[] = ['HTTP_GET', 'HTTP_PUT', 'HTTP_POST', 'HTTP_HEAD', 'HTTP_OTHER'];
  const ftp: Operation[] = ['FTP_GET', 'FTP_PUT', 'FTP_LIST', 'FTP_DATA'];
  it.each([
    ['HTTP', http],
    ['HTTPS', ['HTTP_CONNECT']],
    ['FTP', ftp],
    ['CONNECT', ['CONNECT']],
    ['HTTP_GET', ['HTTP_GET']],
    ['DNSRESOLVE', ['DNSRESOLVE']],
  ] as [string, Operation[]][])('operations [%s] covers exactly %j', (name, covered) => {
    const m = compileMatch({ operations: [name] });
    for (const op of OPERATIONS) expect([op, m(req({ operation: op }))]).toEqual([op, covered.includes(op)]);
  });

  it('unions operation lists', () => {
    expect(compileOperations(['HTTP', 'HTTPS'])).toBe(compileOperations([...http, 'HTTP_CONNECT']));
    const m = compileMatch({ operations: ['HTTP_GET', 'CONNECT'] });
    expect([m(req({ operation: 'CONNECT' })), m(req({ operation: 'HTTP_POST' }))]).toEqual([true, false]);
  });

  it.each([
    [['1-5'], new Date(2024, 0, 8, 12), true], // Monday
    [['1-5'], new Date(2024, 0, 7, 12), false], // Sunday
    [[7], new Date(2024, 0, 7, 12), true],
    [[0], new Date(2024, 0, 7, 12), true],
  ])('weekdays %j at %s: %s', (weekdays, now, expected) => {
    expect(matches({ weekdays }, { now })).toBe(expected);
  });

  it.each([
    [new Date(2024, 0, 8, 9, 0, 0), true],
    [new Date(2024, 0, 8, 17, 59, 59), true],
    [new Date(2024, 0, 8, 18, 0, 0), false],
    [new Date(2024, 0, 8, 8, 59, 59), false],
  ])('times 09:00:00-18:00:00 at %s: %s', (now, expected) => {
    expect(matches({ times: ['09:00:00-18:00:00'] }, { now })).toBe(expected);
  });

  it('re-reads the clock for each request, and an invalid date matches no clock rule', () => {
    const m = compileMatch({ weekdays: ['1-5'], times: ['09:00:00-18:00:00'] });
    const now = new Date(2024, 0, 8, 10, 0, 0);
    expect(m(req({ now }))).toBe(true);
    expect(m(req({ now: new Date(2024, 0, 7, 10, 0, 0) }))).toBe(false); // Sunday
    now.setHours(19); // the same Date object, changed in place
    expect(m(req({ now }))).toBe(false);
    expect(m(req({ now: new Date(NaN) }))).toBe(false);
  });

  it('handles long user lists (hashed) as well as short ones', () => {
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'x*'];
    expect(['u1', 'u6', 'xy', 'u7'].map((user) => matches({ users }, { user }))).toEqual([true, true, true, false]);
  });

  it('requires every named field to match', () => {
    const spec: MatchSpec = { users: ['alice'], sources: ['10.0.0.0/8'], ports: [443], operations: ['CONNECT'] };
    const ok = { user: 'alice', clientAddress: '10.0.0.1', port: 443 } as const;
    expect(matches(spec, ok)).toBe(true);
    expect(matches(spec, { ...ok, user: 'bob' })).toBe(false);
    expect(matches(spec, { ...ok, clientAddress: '11.0.0.1' })).toBe(false);
    expect(matches(spec, { ...ok, port: 80 })).toBe(false);
    expect(matches(spec, { ...ok, operation: 'BIND' })).toBe(false);
  });

  it('keeps rules apart although parse results are cached per request string', () => {
    const a = compileMatch({ sources: ['10.0.0.0/8'], targets: ['*.a.com'] });
    const b = compileMatch({ sources: ['::1'], targets: ['b.com'] });
    const r1 = req({ clientAddress: '10.1.1.1', targetHost: 'x.a.com' });
    const r2 = req({ clientAddress: '::1', targetHost: 'B.COM' });
    expect([a(r1), b(r1), a(r2), b(r2), a(r1)]).toEqual([true, false, false, true, true]);
  });
});

describe('compileMatch: invalid tokens', () => {
  it.each([
    [{ sources: ['example.com'] }, '/sources "example.com"'],
    [{ sources: ['10.0.0.0/33'] }, '/sources "10.0.0.0/33"'],
    [{ targets: ['10.0.0.300'] }, '/targets "10.0.0.300"'],
    [{ targets: ['10.0.0.0/40'] }, '/targets "10.0.0.0/40"'],
    [{ targets: ['a*b.com'] }, '/targets "a*b.com"'],
    [{ ports: ['http'] }, '/ports "http"'],
    [{ ports: [70000] }, '/ports "70000"'],
    [{ ports: ['90-80'] }, '/ports "90-80"'],
    [{ operations: ['GET'] }, '/operations "GET"'],
    [{ weekdays: [9] }, '/weekdays "9"'],
    [{ times: ['9-17'] }, '/times "9-17"'],
    [{ users: [] }, '/users "[]"'],
  ] as [MatchSpec, string][])('%j', (spec, named) => {
    const err = thrown(() => compileMatch(spec, '/acl/2/allow'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(`/acl/2/allow${named}`);
  });
});

describe('namesUsers', () => {
  it.each([
    [{}, false],
    [{ users: ['*'] }, false],
    [{ users: ['alice'] }, true],
    [{ users: ['-'] }, true],
  ] as [MatchSpec, boolean][])('%j: %s', (spec, expected) => {
    expect(namesUsers(spec)).toBe(expected);
  });
});

describe('rule-list helpers', () => {
  const list = [{ ports: [80] }, { users: ['alice'] }, { ports: ['1-1000'] }, {}].map((m) => compileMatch(m));

  it('walkMatches visits every match in order until told to stop', () => {
    const seen: number[] = [];
    walkMatches(list, req({ port: 80 }), (i) => void seen.push(i));
    expect(seen).toEqual([0, 2, 3]);
    const until: number[] = [];
    walkMatches(list, req({ port: 80 }), (i) => (until.push(i), i !== 2));
    expect(until).toEqual([0, 2]);
  });

  it('firstMatch and matchesAny', () => {
    expect(firstMatch(list, req({ port: 5000, user: 'alice' }))).toBe(1);
    expect(firstMatch(list.slice(0, 3), req({ port: 5000 }))).toBe(-1);
    expect(matchesAny(list.slice(0, 3), req({ port: 5000 }))).toBe(false);
    expect(matchesAny(list, req({ port: 5000 }))).toBe(true);
  });
});
