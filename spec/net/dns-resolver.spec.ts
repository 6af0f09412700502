import { DnsResolver } from '../../core/net/dns-resolver';
import { parseNameServer } from '../../core/net/dns-query';
import { dnsFixture, type DnsFixture } from './dns-fixture';

describe('DnsResolver', () => {
  let dns: DnsFixture;
  beforeEach(async () => {
    dns = await dnsFixture();
    dns.records.set('www.example.test/A', ['10.1.2.3']);
    dns.records.set('www.example.test/AAAA', ['2001:db8::5']);
    dns.records.set('v4only.test/A', ['10.9.9.9']);
  });
  afterEach(() => dns.close());

  it('parses nserver forms', () => {
    expect(parseNameServer('1.2.3.4')).toEqual({ address: '1.2.3.4', port: 53, tcp: false });
    expect(parseNameServer('1.2.3.4:5353/tcp')).toEqual({ address: '1.2.3.4', port: 5353, tcp: true });
    expect(parseNameServer('[::1]:5353')).toEqual({ address: '::1', port: 5353, tcp: false });
    expect(parseNameServer('::1')).toEqual({ address: '::1', port: 53, tcp: false });
    expect(() => parseNameServer('name:53')).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }));
  });

  it('asks the UDP server, orders by policy and caches by TTL', async () => {
    let now = 1_000_000;
    const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`] }, () => now);
    expect(await r.resolve('www.example.test', '64')).toEqual([
      { address: '2001:db8::5', family: 6 },
      { address: '10.1.2.3', family: 4 },
    ]);
    expect(await r.resolve('WWW.example.test.', '4')).toEqual([{ address: '10.1.2.3', family: 4 }]);
    expect(dns.queries.filter((q) => q === 'udp:www.example.test/A')).toHaveLength(1);
    now += 301_000;
    await r.resolve('www.example.test', '4');
    expect(dns.queries.filter((q) => q === 'udp:www.example.test/A')).toHaveLength(2);
    expect(dns.queries.every((q) => q.startsWith('udp:'))).toBe(true);
  });

  it('bounds the cache', async () => {
    dns.records.set('a.test/A', ['10.0.0.1']);
    dns.records.set('b.test/A', ['10.0.0.2']);
    const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`], cacheSize: 1 });
    await r.resolve('a.test', '4');
    await r.resolve('b.test', '4');
    expect(r.cacheSizes().v4).toBe(1);
    await r.resolve('a.test', '4');
    expect(dns.queries.filter((q) => q === 'udp:a.test/A')).toHaveLength(2);
  });

  it('uses TCP for /tcp servers and when the UDP answer is truncated', async () => {
    const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}/tcp`] });
    expect(await r.resolve('v4only.test', '4')).toEqual([{ address: '10.9.9.9', family: 4 }]);
    expect(dns.queries).toEqual(['tcp:v4only.test/A']);
    dns.queries.length = 0;
    dns.truncate = true;
    const u = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`] });
    expect(await u.resolve('v4only.test', '4')).toEqual([{ address: '10.9.9.9', family: 4 }]);
    expect(dns.queries).toEqual(['udp:v4only.test/A', 'tcp:v4only.test/A']);
  });

  it('maps NXDOMAIN, a family without records and silence to codes', async () => {
    const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`], timeout: '300ms' });
    await expect(r.resolve('nope.test', '46')).rejects.toMatchObject({ code: 'PRX_ERR_DNS_NOT_FOUND', legacyCode: 100 });
    await expect(r.resolve('v4only.test', '6')).rejects.toMatchObject({ code: 'PRX_ERR_DNS_NOT_FOUND' });
    dns.silent = true;
    await expect(r.resolve('other.test', '4')).rejects.toMatchObject({ code: 'PRX_ERR_DNS_TIMEOUT' });
  });

  it('serves nsrecord hosts, blocks 0.0.0.0 and fakes 127.0.0.2', async () => {
    const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`], hosts: { 'www.example.test': '10.7.7.7', 'ads.test': '0.0.0.0' } });
    expect(await r.resolve('www.example.test', '46')).toEqual([{ address: '10.7.7.7', family: 4 }]);
    await expect(r.resolve('ads.test', '46')).rejects.toMatchObject({ code: 'PRX_ERR_DNS_NOT_FOUND' });
    expect(dns.queries).toEqual([]);
    const f = new DnsResolver({ fakeResolve: true });
    expect(await f.resolve('anything.invalid', '46')).toEqual([{ address: '127.0.0.2', family: 4 }]);
    // Without servers, names go to the system resolver; hosts still apply.
    const s = new DnsResolver({ hosts: { 'x.test': '10.1.1.1' } });
    expect(await s.resolve('x.test', '4')).toEqual([{ address: '10.1.1.1', family: 4 }]);
    expect(await s.resolve('localhost', '4')).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});
