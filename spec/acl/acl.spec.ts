import { compileAcl, needsUser } from '../../core/acl';
import type { AclRuleSpec } from '../../core/acl';
import { req, thrown } from './request';

const SOCKS_PARENT = { weight: 1000, type: 'socks5', host: '127.0.0.1', port: 1081 };
const LOCAL = { weight: 1000, type: 'http', host: '0.0.0.0', port: 0 };

describe('compileAcl: the walk', () => {
  it('allows everything when empty (code 0, index -1)', () => {
    const d = compileAcl([]).evaluate(req());
    expect(d).toMatchObject({ action: 'allow', code: 0, index: -1, rule: null });
  });

  it('first match wins', () => {
    const acl = compileAcl([{ deny: { ports: [25] } }, { allow: { sources: ['127.0.0.0/8'] } }, { deny: {} }]);
    expect(acl.evaluate(req({ port: 25 }))).toMatchObject({ action: 'deny', code: 1, index: 0 });
    expect(acl.evaluate(req({ port: 80 }))).toMatchObject({ action: 'allow', code: 0, index: 1 });
    expect(acl.evaluate(req({ clientAddress: '10.0.0.1' }))).toMatchObject({ action: 'deny', code: 1, index: 2 });
  });

  it('gives code 3 (implicit deny) when nothing matches, and 1 for an explicit deny', () => {
    const implicit = compileAcl([{ allow: { users: ['alice'] } }]);
    expect(implicit.evaluate(req({ user: 'bob' }))).toMatchObject({ action: 'none', code: 3, index: -1, rule: null });
    const explicit = compileAcl([{ allow: { users: ['alice'] } }, { deny: {} }]);
    expect(explicit.evaluate(req({ user: 'bob' }))).toMatchObject({ action: 'deny', code: 1, index: 1 });
  });

  it('returns the rule with its parents, nolog, weight and index', () => {
    const acl = compileAcl([{ allow: { ports: [1] } }, { allow: {}, parents: [SOCKS_PARENT], nolog: true, weight: 5 }]);
    const d = acl.evaluate(req());
    expect(d).toMatchObject({ action: 'redirect', code: 0, index: 1, nolog: true, weight: 5 });
    expect(d.rule).toMatchObject({ kind: 'allow', action: 'redirect', index: 1, nolog: true, weight: 5 });
    expect(d.rule?.parents).toEqual([SOCKS_PARENT]);
  });

  it('turns a redirect entry into an http parent first in the chain', () => {
    const acl = compileAcl([{ redirect: { host: '10.0.0.2', port: 3128, match: { ports: [80] } } }, { allow: {} }]);
    const d = acl.evaluate(req({ port: 80 }));
    expect(d).toMatchObject({ action: 'redirect', code: 0, index: 0 });
    expect(d.rule?.kind).toBe('redirect');
    expect(d.rule?.parents).toEqual([{ weight: 1000, type: 'http', host: '10.0.0.2', port: 3128 }]);
    expect(acl.evaluate(req({ port: 443 }))).toMatchObject({ action: 'allow', index: 1 });
  });

  it.each(['BIND', 'ICMPASSOC'] as const)('skips parent entries for %s', (operation) => {
    const acl = compileAcl([{ allow: {}, parents: [SOCKS_PARENT] }, { redirect: { host: 'h', port: 1 } }, { allow: { users: ['-'] } }]);
    expect(acl.evaluate(req({ operation }))).toMatchObject({ action: 'allow', index: 2 });
    expect(acl.evaluate(req({ operation, user: 'x' }))).toMatchObject({ action: 'none', code: 3 });
  });

  it.each(['CONNECT', 'UDPASSOC', 'HTTP_GET'] as const)('keeps parent entries for %s', (operation) => {
    const acl = compileAcl([{ allow: {}, parents: [SOCKS_PARENT] }, { allow: {} }]);
    expect(acl.evaluate(req({ operation }))).toMatchObject({ action: 'redirect', index: 0 });
  });

  it('skips local-redirect entries on the second pass only', () => {
    const acl = compileAcl([
      { allow: { ports: [80] }, parents: [LOCAL] },
      { allow: { ports: [80] }, parents: [SOCKS_PARENT] },
      { allow: { ports: [80] } },
    ]);
    expect(acl.rules.map((r) => r.localRedirect)).toEqual([true, false, false]);
    expect(acl.evaluate(req()).index).toBe(0);
    expect(acl.evaluate(req(), { skipLocalRedirect: true }).index).toBe(1);
  });

  it('carries nolog from the matched entry', () => {
    const acl = compileAcl([{ allow: { ports: [80] }, nolog: true }, { allow: {} }]);
    expect(acl.evaluate(req({ port: 80 })).nolog).toBe(true);
    expect(acl.evaluate(req({ port: 81 })).nolog).toBe(false);
  });

  it('keeps nolog and weight of a skipped parent entry when nothing else matches (3proxy)', () => {
    const acl = compileAcl([{ allow: {}, parents: [SOCKS_PARENT], nolog: true, weight: 7 }]);
    expect(acl.evaluate(req({ operation: 'BIND' }))).toMatchObject({ action: 'none', code: 3, nolog: true, weight: 7 });
  });
});

describe('compileAcl: weight', () => {
  const acl = compileAcl([
    { allow: { ports: [1] }, weight: 10 },
    { allow: { ports: [2] }, weight: 3 },
    { allow: { ports: [2] } },
    { deny: {} },
  ]);

  it('sets the request weight from the matched rule', () => {
    expect(acl.evaluate(req({ port: 1 })).weight).toBe(10);
    expect(acl.evaluate(req({ port: 2 })).weight).toBe(3);
  });

  it('skips rules whose weight is below the carried request weight', () => {
    expect(acl.evaluate(req({ port: 2 }), { weight: 5 })).toMatchObject({ index: 2, weight: 0 });
    expect(acl.evaluate(req({ port: 1 }), { weight: 10 })).toMatchObject({ index: 0, weight: 10 });
    expect(acl.evaluate(req({ port: 1 }), { weight: 11 })).toMatchObject({ index: 3, action: 'deny' });
  });

  it('lets a skipped parent entry raise the weight for the rest of the walk', () => {
    const a = compileAcl([{ allow: {}, parents: [SOCKS_PARENT], weight: 9 }, { allow: {}, weight: 5 }, { allow: {} }]);
    expect(a.evaluate(req({ operation: 'BIND' }))).toMatchObject({ index: 2, weight: 0 });
    expect(a.evaluate(req({ operation: 'CONNECT' }))).toMatchObject({ index: 0, weight: 9 });
  });

  it('empty ACL passes the carried weight through', () => {
    expect(compileAcl([]).evaluate(req(), { weight: 4 })).toMatchObject({ action: 'allow', weight: 4 });
  });
});

describe('compileAcl: users and errors', () => {
  it('reports whether any rule names users', () => {
    expect(needsUser(compileAcl([{ allow: { sources: ['10.0.0.0/8'] } }, { deny: { users: ['*'] } }]))).toBe(false);
    const acl = compileAcl([{ allow: { sources: ['10.0.0.0/8'] } }, { allow: { users: ['alice'] } }]);
    expect(needsUser(acl)).toBe(true);
    expect(acl.rules.map((r) => r.namesUsers)).toEqual([false, true]);
    // iponly walks with the user hidden: a user rule then fails, letting auth fall through
    expect(acl.evaluate(req({ clientAddress: '192.0.2.1', user: null })).code).toBe(3);
    expect(acl.evaluate(req({ clientAddress: '192.0.2.1', user: 'alice' })).code).toBe(0);
  });

  it.each([
    [[{}], '/svc/acl/0', 'exactly one of allow, deny or redirect'],
    [[{ allow: {}, deny: {} }], '/svc/acl/0', 'exactly one'],
    [[{ allow: {} }, { deny: {}, parents: [SOCKS_PARENT] }], '/svc/acl/1/parents', 'Chaining error'],
    [[{ redirect: { host: 'h', port: 70000 } }], '/svc/acl/0/redirect', 'port 0-65535'],
    [[{ allow: {}, weight: -1 }], '/svc/acl/0/weight', 'non-negative'],
    [[{ allow: { targets: ['a*b'] } }], '/svc/acl/0/allow/targets "a*b"', 'only at the start'],
    [[{ redirect: { host: 'h', port: 1, match: { ports: ['x'] } } }], '/svc/acl/0/redirect/match/ports "x"', 'port must be'],
  ] as [AclRuleSpec[], string, string][])('rejects %j', (specs, where, why) => {
    const err = thrown(() => compileAcl(specs, '/svc/acl'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(where);
    expect(err.message).toContain(why);
  });
});
