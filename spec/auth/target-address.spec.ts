import type { FamilyPolicy, Resolver } from '../../core/net/resolver';
import { proxyError } from '../../core/errors';
import { code, makeEnv, makeSession, service } from './harness';

class RecordingResolver implements Resolver {
  calls: [string, FamilyPolicy][] = [];
  constructor(private readonly table: Record<string, string[]>) {}
  resolve(host: string, policy: FamilyPolicy): Promise<{ address: string; family: 4 | 6 }[]> {
    this.calls.push([host, policy]);
    const found = this.table[host];
    if (found === undefined) return Promise.reject(proxyError('PRX_ERR_DNS_NOT_FOUND', host));
    return Promise.resolve(found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  }
}

describe('targets named by host are matched by name and by resolved address', () => {
  const table = { 'intranet.example': ['10.20.0.5'], 'v6.example': ['2001:db8::5'], 'public.example': ['192.0.2.1'] };
  const acl = [{ deny: { targets: ['10.0.0.0/8', '2001:db8::/32'] } }, { allow: { targets: ['*.example'] } }, { deny: {} }];
  const cases: [string, string, string | null, number, string | null][] = [
    ['host resolving into a denied range', 'intranet.example', null, 1, '10.20.0.5'],
    ['host resolving into a denied IPv6 range', 'v6.example', null, 1, '2001:db8::5'],
    ['host resolving elsewhere: the name rule allows', 'public.example', null, 0, '192.0.2.1'],
    ['unresolvable host: name rules still apply', 'nowhere.example', null, 0, null],
    ['address already given: no lookup', 'intranet.example', '192.0.2.9', 0, '192.0.2.9'],
    ['literal address as host', '10.1.1.1', null, 1, '10.1.1.1'],
  ];
  it.each(cases)('%s', async (_n, host, address, want, after) => {
    const resolver = new RecordingResolver(table);
    const run = service({ auth: ['iponly'], acl, options: { family: '64' } }, makeEnv({ resolver }));
    const out = await run(makeSession({ host, address }));
    expect([code(out), out.session.request.address]).toEqual([want, after]);
    const looked = address === null && !/^[\d.]+$/.test(host);
    expect(resolver.calls).toEqual(looked ? [[host, '64']] : []);
  });

  it('does not resolve when no rule has an address target', async () => {
    const resolver = new RecordingResolver(table);
    const run = service({ auth: ['iponly'], acl: [{ allow: { targets: ['*.example'] } }] }, makeEnv({ resolver }));
    expect(code(await run(makeSession({ host: 'intranet.example' })))).toBe(0);
    expect(resolver.calls).toEqual([]);
  });

  it('resolves for strong too (the walk happens in authorize)', async () => {
    const resolver = new RecordingResolver(table);
    const env = makeEnv({ resolver, users: { alice: 'CL:pw' } });
    const out = await service({ auth: ['strong'], acl }, env)(makeSession({ host: 'intranet.example', user: 'alice', password: 'pw' }));
    expect(code(out)).toBe(1);
    expect(resolver.calls).toEqual([['intranet.example', '46']]);
  });
});
