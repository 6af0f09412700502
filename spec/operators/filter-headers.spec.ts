/** filterHeaders: the pure header rewriting (3proxy -a/-a1/-a2/-T) and the operator wrapper. */
import { firstValueFrom, of } from 'rxjs';
import { filterRequestHeaders, filterResponseHeaders, fromRaw, toRaw, randomAddress, type Header, type RequestFilterOptions } from '../../operators/filterHeaders/headers';
import { filterHeaders, forwardMode, HEADERS_KEY } from '../../operators/filterHeaders';
import { Session, emptyRequest, type Connection } from '../../core/session';
import type { Env } from '../../core/env';

const base: RequestFilterOptions = {
  mode: 'anonymous',
  passProxyHeaders: false,
  tunnel: false,
  clientAddress: '10.1.2.3',
  clientPort: 5555,
  proxyName: 'gw:3128',
  httpVersion: '1.1',
};
const names = (h: readonly Header[]): string[] => h.map(([n]) => n);

describe('filterRequestHeaders', () => {
  const input: Header[] = [
    ['Host', 'example.com'],
    ['Connection', 'keep-alive, X-Secret'],
    ['X-Secret', 'hop'],
    ['Proxy-Connection', 'keep-alive'],
    ['Proxy-Authorization', 'Basic dTpw'],
    ['Keep-Alive', 'timeout=5'],
    ['TE', 'trailers'],
    ['Trailer', 'X-T'],
    ['Transfer-Encoding', 'chunked'],
    ['Upgrade', 'websocket'],
    ['Accept', '*/*'],
  ];

  it('removes hop-by-hop headers, the ones Connection names, and Proxy-*', () => {
    expect(filterRequestHeaders(input, base)).toEqual([
      ['Host', 'example.com'],
      ['Accept', '*/*'],
    ]);
  });

  it('keeps Proxy-* headers with passProxyHeaders (-T)', () => {
    expect(names(filterRequestHeaders(input, { ...base, passProxyHeaders: true }))).toEqual(['Host', 'Proxy-Authorization', 'Accept']);
  });

  it('keeps Upgrade and sends Connection: Upgrade for a tunnel', () => {
    const out = filterRequestHeaders(input, { ...base, tunnel: true });
    expect(out).toEqual([
      ['Host', 'example.com'],
      ['Upgrade', 'websocket'],
      ['Accept', '*/*'],
      ['Connection', 'Upgrade'],
    ]);
  });

  it('adds Forwarded by default (IPv6 in brackets)', () => {
    expect(filterRequestHeaders([], { ...base, mode: 'forwarded' })).toEqual([['Forwarded', 'for="10.1.2.3:5555";by="gw:3128"']]);
    expect(filterRequestHeaders([], { ...base, mode: 'forwarded', clientAddress: '::1' })[0]![1]).toBe('for="[::1]:5555";by="gw:3128"');
  });

  it('adds Via + X-Forwarded-For with the real (-a2) or a random (-a1) address', () => {
    expect(filterRequestHeaders([], { ...base, mode: 'client' })).toEqual([
      ['Via', '1.1 gw:3128 (rx3proxy)'],
      ['X-Forwarded-For', '10.1.2.3'],
    ]);
    const rnd = filterRequestHeaders([], { ...base, mode: 'random', random: () => '1.2.3.4' });
    expect(rnd[1]).toEqual(['X-Forwarded-For', '1.2.3.4']);
    expect(randomAddress()).toMatch(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    expect(randomAddress()).not.toMatch(/^(10|127)\./);
  });

  it('filters responses the same way (Proxy-* dropped, Transfer-Encoding re-framed)', () => {
    const resp: Header[] = [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked'], ['Proxy-Agent', 'x'], ['Connection', 'close']];
    expect(filterResponseHeaders(resp, false)).toEqual([['Content-Type', 'text/plain']]);
    expect(names(filterResponseHeaders(resp, true))).toEqual(['Content-Type', 'Proxy-Agent']);
  });

  it('converts to and from the flat rawHeaders form', () => {
    expect(fromRaw(['A', '1', 'B', '2'])).toEqual([['A', '1'], ['B', '2']]);
    expect(toRaw([['A', '1']])).toEqual(['A', '1']);
  });
});

describe('filterHeaders operator', () => {
  const connection = { id: 1, socket: {} as never, clientAddress: '192.0.2.7', clientPort: 4000, localAddress: '127.0.0.1', localPort: 3128, acceptedAt: 0 } as Connection;
  const run = async (serviceOptions: Record<string, unknown>, headers: Header[] | undefined): Promise<Session> => {
    const step = filterHeaders.create({}, {} as Env, { service: { name: 'p', type: 'proxy', config: { options: serviceOptions } } });
    const s = new Session(connection, { name: 'p', type: 'proxy', logName: 'PROXY', port: 3128 }, emptyRequest('http', 'HTTP_GET'));
    if (headers !== undefined) s.state.set(HEADERS_KEY, headers);
    return firstValueFrom(of(s).pipe(step));
  };

  it('uses the service options (xForwardedFor: client) on the session header list', async () => {
    const s = await run({ xForwardedFor: 'client' }, [['Proxy-Connection', 'x'], ['Accept', '*/*']]);
    const out = s.state.get(HEADERS_KEY) as Header[];
    expect(out[0]).toEqual(['Accept', '*/*']);
    expect(out).toContainEqual(['X-Forwarded-For', '192.0.2.7']);
  });

  it('leaves sessions without headers (CONNECT) alone', async () => {
    const s = await run({}, undefined);
    expect(s.state.has(HEADERS_KEY)).toBe(false);
  });

  it('gives -a precedence over -a1/-a2', () => {
    expect(forwardMode({ anonymous: true, xForwardedFor: 'client' })).toBe('anonymous');
    expect(forwardMode({ xForwardedFor: 'random' })).toBe('random');
    expect(forwardMode({})).toBe('forwarded');
  });
});
