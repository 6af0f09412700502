/**
 * The shipped regex-filter plugin end to end: curl through a `type: proxy` service that lists
 * `regex-filter.pcre`, real upstreams on loopback that show what they received, and tcppm for
 * stream data rules.
 */
import { httpServer, defaultHandler, echoServer, type Fixture } from '../helpers/servers';
import { curl, tcpConnect, readAll } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';

describe('regex-filter plugin', () => {
  let web: Fixture;
  let echo: Fixture;
  let proxy: RunningProxy | null = null;

  beforeAll(async () => {
    web = await httpServer((req, res) => {
      if (req.url === '/origin') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': 'secret-backend-7' });
        res.end('origin says hello world, hello again');
        return;
      }
      defaultHandler(req, res);
    });
    echo = await echoServer();
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
  });
  afterAll(async () => {
    await Promise.all([web.close(), echo.close()]);
  });

  const config = (rules: string, filtersOn = 'http'): string => `
version: 1
accessLog: { to: none, format: json }
plugins:
  - module: regex-filter
regexFilter:
  rules:
${rules}
services:
  - name: http
    type: proxy
    listen: 127.0.0.1:0
${filtersOn === 'http' ? '    filters: [regex-filter.pcre]' : ''}
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo.port}
${filtersOn === 'mapper' ? '    filters: [regex-filter.pcre]' : ''}
`;
  const url = (path: string): string => `http://127.0.0.1:${web.port}${path}`;
  const via = (): string[] => ['-x', `http://127.0.0.1:${proxy!.ports['http']!}`];

  it('blocks a URL pattern with the policy page and an access record; other URLs pass', async () => {
    proxy = await startProxy(config(`    - { types: [request], action: deny, pattern: '/bytes/[0-9]+ HTTP' }`));
    const ok = await curl([...via(), url('/hello')]);
    expect(ok.stdout).toBe('hello world');
    const denied = await curl([...via(), '-w', '%{http_code}', '-o', '/dev/null', url('/bytes/10')]);
    expect(denied.stdout).toBe('503');
    const recs = await proxy.waitForRecords(2);
    expect(recs[0]).toMatchObject({ code: 0, errorCode: null });
    expect(recs[1]).toMatchObject({ code: 517, errorCode: 'PRX_ERR_FILTER_REJECT', text: `GET ${url('/bytes/10')} HTTP/1.1` });
  });

  it('filters every request of a keep-alive connection', async () => {
    proxy = await startProxy(config(`    - { types: [request], action: deny, pattern: 'bytes' }`));
    // One curl, one connection: the first request passes, the second (keep-alive) is refused.
    const r = await curl([...via(), '-w', ' %{http_code} %{num_connects}\\n', url('/hello'), url('/bytes/5')]);
    expect(r.stdout.split('\n')[0]).toBe('hello world 200 1');
    expect(r.stdout).toContain('503 0');
    const recs = await proxy.waitForRecords(2);
    expect(recs.map((x) => x.errorCode)).toEqual([null, 'PRX_ERR_FILTER_REJECT']);
  });

  it('allow stops the chain before a later deny; ACEs select the rule', async () => {
    proxy = await startProxy(
      config(`    - { types: [request], action: allow, pattern: 'hello', match: [{ ports: [${web.port}] }] }
    - { types: [request], action: deny, pattern: '*' }`),
    );
    expect((await curl([...via(), url('/hello')])).stdout).toBe('hello world');
    const denied = await curl([...via(), '-w', '%{http_code}', '-o', '/dev/null', url('/headers')]);
    expect(denied.stdout).toBe('503');
  });

  it('rewrites a client header: the upstream sees the new value', async () => {
    proxy = await startProxy(config(`    - { types: [cliheader], action: dunno, pattern: 'User-Agent: curl/([^\\r\\n]*)', replace: 'User-Agent: rewritten-$1' }`));
    const r = await curl([...via(), url('/headers')]);
    const seen = JSON.parse(r.stdout) as Record<string, string>;
    expect(seen['user-agent']).toMatch(/^rewritten-\d+\.\d+/);
  });

  it('rewrites a server header and the body (srvdata resized within filterMaxSize, Content-Length follows)', async () => {
    proxy = await startProxy(
      config(`    - { types: [srvheader], action: dunno, pattern: 'secret-backend-[0-9]+', replace: 'hidden' }
    - { types: [srvdata], action: dunno, pattern: 'hello', replace: 'HELLO, HELLO' }`),
    );
    const r = await curl([...via(), '-i', url('/origin')]);
    expect(r.stdout).toMatch(/x-origin: hidden\r\n/i);
    expect(r.stdout).toMatch(/content-length: 50\r\n/i);
    expect(r.stdout.endsWith('origin says HELLO, HELLO world, HELLO, HELLO again')).toBe(true);
  });

  it('a response body larger than filterMaxSize streams as it came; deny on srvdata still cuts it', async () => {
    proxy = await startProxy(`${config(`    - { types: [srvdata], action: deny, pattern: 'a{100}' }`)}\nfilterMaxSize: 1KB\n`);
    const r = await curl([...via(), '-o', '/dev/null', '-w', '%{http_code}', url('/bytes/200000')]);
    expect(r.code).not.toBe(0);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_FILTER_REJECT' });
  });

  it('clidata rewrites a request body within filterMaxSize (new Content-Length); a larger body streams unresized', async () => {
    proxy = await startProxy(`${config(`    - { types: [clidata], action: dunno, pattern: 'secret', replace: 'public-info' }`)}\nfilterMaxSize: 1KB\n`);
    const small = await curl([...via(), '--data-binary', 'a secret and a secret', url('/post')]);
    expect(small.stdout).toBe('a public-info and a public-info');
    const chunked = await curl([...via(), '-H', 'Transfer-Encoding: chunked', '--data-binary', 'secret', url('/post')]);
    expect(chunked.stdout).toBe('public-info');
    const big = `secret${'x'.repeat(4000)}`;
    const large = await curl([...via(), '--data-binary', big, url('/post')]);
    expect(large.stdout).toBe(big);
  });

  it('clidata rewrites stream data (tcppm), resizing the chunk', async () => {
    proxy = await startProxy(config(`    - { types: [clidata], action: dunno, pattern: 'ping', replace: 'PONG!' }`, 'mapper'));
    const c = await tcpConnect(proxy.ports['mapper']!);
    const got = readAll(c);
    c.end('ping ping');
    expect((await got).toString()).toBe('PONG! PONG!');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 0, bytesOut: 11 });
  });

  it('srvdata deny on a stream cuts the session and logs the refusal', async () => {
    proxy = await startProxy(config(`    - { types: [srvdata], action: deny, pattern: 'secret' }`, 'mapper'));
    const c = await tcpConnect(proxy.ports['mapper']!);
    const got = readAll(c).catch(() => Buffer.alloc(0));
    c.write('top secret');
    expect((await got).toString()).not.toContain('secret');
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ code: 517, errorCode: 'PRX_ERR_FILTER_REJECT' });
    c.destroy();
  });

  it('a service without the filter is untouched', async () => {
    proxy = await startProxy(config(`    - { types: [request, clidata], action: deny, pattern: '*' }`, 'mapper'));
    expect((await curl([...via(), url('/hello')])).stdout).toBe('hello world');
  });
});
