import { configWarnings } from '../../operators/authenticate/warnings';

type Svc = Record<string, unknown>;
const svc = (over: Svc): Svc => ({ name: 'web', type: 'proxy', listen: 3128, ...over });
const codes = (config: Record<string, unknown>): string[] => configWarnings(config).map((w) => `${w.code} ${w.pointer}`);

describe('configWarnings', () => {
  const denyAll = { deny: {} };
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['clean config', { services: [svc({ auth: ['strong'], acl: [{ allow: { users: ['a'] } }, denyAll] })] }, []],
    ['auth none with an acl', { services: [svc({ auth: ['none'], acl: [{ allow: {} }, denyAll] })] }, ['PRXWRN001 /services/0/auth']],
    ['auth none without acl', { services: [svc({ auth: ['none'] })] }, []],
    [
      'strong then cache, key user',
      { authCache: { keys: ['user'] }, services: [svc({ auth: ['strong', 'cache'], acl: [denyAll] })] },
      ['PRXWRN002 /services/0/auth'],
    ],
    [
      'strong then cacheacl, key ip,user',
      { authCache: { keys: ['ip', 'user'] }, services: [svc({ auth: ['strong', 'cacheacl'], acl: [denyAll] })] },
      ['PRXWRN002 /services/0/auth'],
    ],
    ['strong then cache, default keys (user,password)', { services: [svc({ auth: ['strong', 'cache'], acl: [denyAll] })] }, []],
    ['cache then strong, key user', { authCache: { keys: ['user'] }, services: [svc({ auth: ['cache', 'strong'], acl: [denyAll] })] }, []],
    ['acl without final deny', { services: [svc({ acl: [{ allow: { users: ['a'] } }] })] }, ['PRXWRN003 /services/0/acl/0']],
    ['acl ending in a narrow deny', { services: [svc({ acl: [{ allow: {} }, { deny: { ports: [25] } }] })] }, ['PRXWRN003 /services/0/acl/1']],
    ['acl ending in deny *', { services: [svc({ acl: [{ allow: {} }, { deny: { users: ['*'] } }] })] }, []],
    ['socks service: 3 is no 407', { services: [svc({ type: 'socks', acl: [{ allow: {} }] })] }, []],
    ['second service is pointed at', { services: [svc({}), svc({ name: 'b', auth: ['none'], acl: [denyAll] })] }, ['PRXWRN001 /services/1/auth']],
  ];
  it.each(cases)('%s', (_n, config, want) => {
    expect(codes(config)).toEqual(want);
  });

  it('messages carry the 3proxy explanation and the service name', () => {
    const [w] = configWarnings({ authCache: { keys: ['user'] }, services: [svc({ auth: ['strong', 'cache'], acl: [{ deny: {} }] })] });
    expect(w?.message).toMatch(/any password is accepted/);
    expect(w?.message).toMatch(/service "web": cache after strong/);
  });
});
