/**
 * Local redirection (3proxy `parent 1000 http 0.0.0.0 0`): a SOCKS request allowed by such a
 * rule is answered with success, then the HTTP proxy handler reads the client's stream,
 * authenticates with the SOCKS credentials and walks the ACL again without the redirect rule.
 * curl talks SOCKS5 to rx3proxy and plain HTTP through the tunnel, as it would to the origin.
 */
import { httpServer, type Fixture } from '../helpers/servers';
import { curl } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

const config = (webPort: number, after: string): string => `
version: 1
users: { u: "CL:p", v: "CL:q" }
services:
  - name: s
    type: socks
    listen: 127.0.0.1:0
    auth: [strong]
    accessLog: { to: none, format: json }
    acl:
      - allow: { ports: [${webPort}] }
        parents: [{ type: http, host: 0.0.0.0, port: 0 }]
${after}
`;

describe('local redirection to the HTTP handler (0.0.0.0 0)', () => {
  let web: Fixture;
  let proxy: RunningProxy | null = null;
  beforeAll(async () => {
    web = await httpServer();
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(() => web.close());

  it('the HTTP handler serves the tunnelled request and logs it as HTTP_GET with the SOCKS user', async () => {
    proxy = await startProxy(config(web.port, '      - allow: { users: [u] }'));
    const r = await curl(['-i', '--socks5', `127.0.0.1:${proxy.ports['s']!}`, '-U', 'u:p', `http://127.0.0.1:${web.port}/hello`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    const [rec] = await proxy.waitForRecords(1);
    // One record: the handler's (the redirected SOCKS request itself is not logged).
    expect(rec).toMatchObject({ user: 'u', operation: 'HTTP_GET', requestedPort: web.port, code: 0 });
    expect(rec!.text).toContain('/hello');
    expect(proxy.records).toHaveLength(1);
  });

  it('the second ACL pass skips the redirect rule: a user no later rule allows gets the handler\'s refusal', async () => {
    proxy = await startProxy(config(web.port, '      - allow: { users: [u] }'));
    const r = await curl(['-i', '--socks5', `127.0.0.1:${proxy.ports['s']!}`, '-U', 'v:q', `http://127.0.0.1:${web.port}/hello`]);
    // SOCKS succeeded (the first pass allowed port web), then HTTP refused: nothing matched (407).
    expect(r.stdout).toMatch(/^HTTP\/1\.[01] 407/);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ user: 'v', code: 3 });
  });

  it('other ports are not redirected and go direct', async () => {
    const other = await httpServer();
    try {
      proxy = await startProxy(config(web.port, '      - allow: { users: [u] }'));
      const r = await curl(['-i', '--socks5', `127.0.0.1:${proxy.ports['s']!}`, '-U', 'u:p', `http://127.0.0.1:${other.port}/hello`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ serviceLogName: 'SOCKS', operation: 'CONNECT' });
    } finally {
      await other.close();
    }
  });
});
