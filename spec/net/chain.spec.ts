import { pickChain, randomInPrefix, type ParentSpec } from '../../core/net/chain';
import { parseV1, parseV2, buildV1, buildV2 } from '../../core/net/proxy-protocol';

const p = (weight: number, host: string): ParentSpec => ({ weight, type: 'tcp', host, port: 1 });

describe('pickChain weight groups', () => {
  it('draws one hop per group summing to 1000, in proportion to the weights', () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const chain = pickChain([p(1000, 'A'), p(300, 'C'), p(700, 'D')]);
      expect(chain[0]!.host).toBe('A');
      expect(chain).toHaveLength(2);
      counts[chain[1]!.host] = (counts[chain[1]!.host] ?? 0) + 1;
    }
    // Binomial(1000, 0.3): sd ~14.5; 5 sd bounds.
    expect(counts['C']).toBeGreaterThan(300 - 73);
    expect(counts['C']).toBeLessThan(300 + 73);
    expect(counts['C']! + counts['D']!).toBe(1000);
  });

  it('a group under 1000 draws nothing with probability 1 - sum/1000', () => {
    let none = 0;
    for (let i = 0; i < 1000; i++) if (pickChain([p(450, 'A'), p(450, 'B')]).length === 0) none++;
    expect(none).toBeGreaterThan(100 - 48);
    expect(none).toBeLessThan(100 + 48);
  });

  it('swaps an unhealthy drawn hop for a healthy one in its group', () => {
    for (let i = 0; i < 50; i++) {
      const chain = pickChain([p(500, 'A'), p(500, 'B')], Math.random, (x) => x.host !== 'A');
      expect(chain.map((c) => c.host)).toEqual(['B']);
    }
  });
});

describe('randomInPrefix', () => {
  it('keeps the prefix bits and randomises the rest', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const a = randomInPrefix('2001:db8:1:2::/64');
      expect(a.startsWith('2001:db8:1:2:')).toBe(true);
      seen.add(a);
    }
    expect(seen.size).toBeGreaterThan(15);
    expect(randomInPrefix('10.1.2.3/32')).toBe('10.1.2.3');
    expect(randomInPrefix('10.1.2.0/24')).toMatch(/^10\.1\.2\.\d+$/);
  });
});

describe('PROXY protocol', () => {
  it('builds and parses v1', () => {
    const b = buildV1({ address: '::ffff:10.0.0.1', port: 1234 }, { address: '127.0.0.1', port: 80 });
    expect(b.toString()).toBe('PROXY TCP4 10.0.0.1 127.0.0.1 1234 80\r\n');
    expect(parseV1(b.toString())).toEqual({ version: 1, source: { address: '10.0.0.1', port: 1234 }, destination: { address: '127.0.0.1', port: 80 } });
    expect(parseV1('PROXY UNKNOWN\r\n').source).toBeNull();
    expect(() => parseV1('PROXY TCP4 1.2.3 4.5.6.7 1 2')).toThrow(expect.objectContaining({ code: 'PRX_ERR_REQUEST_MALFORMED' }));
  });

  it('builds and parses v2 for IPv4 and IPv6', () => {
    const v4 = buildV2({ address: '10.0.0.1', port: 1234 }, { address: '10.0.0.2', port: 443 });
    expect(v4.toString('hex')).toBe('0d0a0d0a000d0a515549540a' + '2111000c' + '0a000001' + '0a000002' + '04d2' + '01bb');
    expect(parseV2(v4.subarray(0, 16), v4.subarray(16)).source).toEqual({ address: '10.0.0.1', port: 1234 });
    const v6 = buildV2({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 });
    const h = parseV2(v6.subarray(0, 16), v6.subarray(16));
    expect(h.source).toEqual({ address: '2001:db8::1', port: 1 });
    expect(h.destination).toEqual({ address: '::1', port: 2 });
  });
});
