/** Egress pool units: entry checks, family split, random spread, sticky hashing, prefixes. */
import { EgressPool, randomInPrefix } from '../../core/net/egress';
import { ipBytes } from '../../core/net/proxy-protocol';

const inPrefix = (addr: string, base: string, len: number): boolean => {
  const a = ipBytes(addr, 6);
  const b = ipBytes(base, 6);
  for (let bit = 0; bit < len; bit++) if (((a[bit >> 3]! ^ b[bit >> 3]!) & (0x80 >> bit % 8)) !== 0) return false;
  return true;
};

describe('EgressPool', () => {
  it('refuses entries that are not addresses or prefixes, naming the entry', () => {
    expect(() => new EgressPool({ pool: ['10.0.0.1', 'nope'] }, '/services/s/egress')).toThrow(/\/services\/s\/egress\/pool\/1.*"nope"/);
    expect(() => new EgressPool({ pool: ['10.0.0.0/33'] }, 'x')).toThrow(/pool\/0/);
    expect(() => new EgressPool({ pool: ['2001:db8::/64/1'] }, 'x')).toThrow(/pool\/0/);
  });

  it('picks by family; none of that family is undefined', () => {
    const p = new EgressPool({ pool: ['10.0.0.1'] }, 'x');
    expect(p.pick(4, 'u')).toBe('10.0.0.1');
    expect(p.pick(6, 'u')).toBeUndefined();
  });

  it('random pools use every entry; sticky ones one per key, stable, and spread over keys', () => {
    const entries = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
    const random = new EgressPool({ pool: entries }, 'x');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(random.pick(4, 'same')!);
    expect(seen.size).toBe(4);
    const sticky = new EgressPool({ pool: entries, sticky: true }, 'x');
    const perUser = new Set<string>();
    for (let u = 0; u < 64; u++) {
      const first = sticky.pick(4, `u:user${u}`)!;
      for (let i = 0; i < 5; i++) expect(sticky.pick(4, `u:user${u}`)).toBe(first);
      perUser.add(first);
    }
    expect(perUser.size).toBe(4);
  });

  it('prefix entries: a random address inside per pick, or a stable one per sticky key', () => {
    const random = new EgressPool({ pool: ['2001:db8:1:2::/64'] }, 'x');
    const a = random.pick(6, 'k')!;
    const b = random.pick(6, 'k')!;
    expect(inPrefix(a, '2001:db8:1:2::', 64) && inPrefix(b, '2001:db8:1:2::', 64)).toBe(true);
    expect(a).not.toBe(b);
    const sticky = new EgressPool({ pool: ['2001:db8:1:2::/64'], sticky: true }, 'x');
    const s1 = sticky.pick(6, 'u:alice')!;
    expect(sticky.pick(6, 'u:alice')).toBe(s1);
    expect(sticky.pick(6, 'u:bob')).not.toBe(s1);
    expect(inPrefix(s1, '2001:db8:1:2::', 64)).toBe(true);
    // An odd length keeps the partial byte's network bits.
    for (let i = 0; i < 50; i++) expect(inPrefix(randomInPrefix('2001:db8:ff80::/41'), '2001:db8:ff80::', 41)).toBe(true);
  });
});
