import { AdminMetrics, refusalReason } from '../operators/admin/metrics';
import { DnsResolver } from '../core/net/dns-resolver';
import { dnsFixture, type DnsFixture } from './net/dns-fixture';

const sample = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('admin metrics', () => {
  it('classifies refusals by reason and leaves served or upstream failures out', () => {
    expect(refusalReason(null)).toBeNull();
    expect(refusalReason('PRX_ERR_AUTH_BAD_PASSWORD')).toBe('auth');
    expect(refusalReason('PRX_ERR_ACL_NO_MATCH')).toBe('auth');
    expect(refusalReason('PRX_ERR_ACL_DENIED')).toBe('acl');
    expect(refusalReason('PRX_ERR_CONNLIM_EXCEEDED')).toBe('limit');
    expect(refusalReason('PRX_ERR_SOCKS_VERSION')).toBe('handshake');
    expect(refusalReason('PRX_ERR_REQUEST_TIMEOUT')).toBe('handshake');
    // Served connections that ended badly, and failures that are not the client's, are not refusals.
    expect(refusalReason('PRX_ERR_IDLE_TIMEOUT')).toBeNull();
    expect(refusalReason('PRX_ERR_CLIENT_RESET')).toBeNull();
    expect(refusalReason('PRX_ERR_CONNECT_REFUSED')).toBeNull();
    expect(refusalReason('PRX_ERR_AUTH_BACKEND')).toBeNull();
  });

  describe('DNS cache', () => {
    let dns: DnsFixture;
    beforeEach(async () => {
      dns = await dnsFixture();
      dns.records.set('www.example.test/A', ['10.1.2.3']);
    });
    afterEach(() => dns.close());

    it("counts the resolver's cache hits and misses, and a new resolver adds to them", async () => {
      const m = new AdminMetrics(false);
      const r = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`] });
      await r.resolve('www.example.test', '4');
      await r.resolve('www.example.test', '4');
      await r.resolve('www.example.test', '4');
      expect(r.cacheStats()).toEqual({ hits: 2, misses: 1 });
      let text = await m.scrape([], r);
      expect(sample(text, 'rx3proxy_dns_cache_total{result="hit"}')).toBe(2);
      expect(sample(text, 'rx3proxy_dns_cache_total{result="miss"}')).toBe(1);
      // A scrape without new lookups adds nothing; a reload's fresh resolver counts on top.
      text = await m.scrape([], r);
      expect(sample(text, 'rx3proxy_dns_cache_total{result="hit"}')).toBe(2);
      const fresh = new DnsResolver({ servers: [`127.0.0.1:${dns.port}`] });
      await fresh.resolve('www.example.test', '4');
      text = await m.scrape([], fresh);
      expect(sample(text, 'rx3proxy_dns_cache_total{result="miss"}')).toBe(2);
      expect(sample(text, 'rx3proxy_dns_cache_total{result="hit"}')).toBe(2);
    });
  });
});
