import { IpList, parseIp, parseIpToken } from '../../core/acl/address';
import { thrown } from './request';

const inList = (tokens: string[], ip: string): boolean => {
  const list = new IpList(tokens.map((t) => parseIpToken(t)!));
  const parsed = parseIp(ip);
  return parsed !== null && list.has(parsed);
};

describe('parseIp', () => {
  it.each([
    ['1.2.3.4', { v6: false, w3: 0x01020304 }],
    ['255.255.255.255', { v6: false, w3: 0xffffffff }],
    ['::1', { v6: true, w0: 0, w3: 1 }],
    ['[2001:db8::1]', { v6: true, w0: 0x20010db8, w3: 1 }],
    ['fe80::1%eth0', { v6: true, w0: 0xfe800000, w3: 1 }],
    ['::ffff:1.2.3.4', { v6: false, w3: 0x01020304 }],
    ['::ffff:102:304', { v6: false, w3: 0x01020304 }],
    ['::', { v6: true, w0: 0, w1: 0, w2: 0, w3: 0 }],
    ['1:2:3:4:5:6:7:8', { v6: true, w0: 0x10002, w1: 0x30004, w2: 0x50006, w3: 0x70008 }],
    ['1:2:3:4:5:6:7::', { v6: true, w3: 0x70000 }],
  ])('%s', (text, expected) => {
    expect(parseIp(text)).toMatchObject(expected);
  });

  it.each(['', 'example.com', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1::2::3', ':::', '1:2:3:4:5:6:7:8:9', '1.2.3.4::', 'g::1', '12345::'])(
    'rejects %j',
    (text) => {
      expect(parseIp(text)).toBeNull();
    },
  );
});

describe('address lists', () => {
  it.each([
    // [tokens, address, expected]
    [['10.0.0.0/8'], '10.255.1.2', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['10.1.2.3/8'], '10.9.9.9', true], // host bits are masked, as 3proxy does
    [['0.0.0.0/0'], '203.0.113.7', true],
    [['0.0.0.0/0'], '::1', false], // families never mix
    [['192.0.2.1/32'], '192.0.2.1', true],
    [['192.0.2.1/32'], '192.0.2.2', false],
    [['192.0.2.0/25'], '192.0.2.127', true],
    [['192.0.2.0/25'], '192.0.2.128', false],
    [['10.1.0.1-10.1.0.9'], '10.1.0.9', true],
    [['10.1.0.1-10.1.0.9'], '10.1.0.10', false],
    [['10.1.0.1-10.1.0.9'], '10.1.0.0', false],
    [['127.0.0.1'], '127.0.0.1', true],
    [['127.0.0.1'], '127.0.0.2', false],
    [['::1'], '::1', true],
    [['::1'], '127.0.0.1', false],
    [['::/0'], '2001:db8::5', true],
    [['::/0'], '10.0.0.1', false],
    [['::/0'], '::ffff:10.0.0.1', false], // a mapped client is IPv4
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['2001:db8::/127'], '2001:db8::1', true],
    [['2001:db8::/127'], '2001:db8::2', false],
    [['2001:db8::1/128'], '2001:db8::1', true],
    [['2001:db8::1/128'], '2001:db8::2', false],
    [['2001:db8::/33'], '2001:db8:7fff::1', true],
    [['2001:db8::/33'], '2001:db8:8000::1', false],
    [['2001:db8::10-2001:db8::1:0'], '2001:db8::ffff', true],
    [['2001:db8::10-2001:db8::1:0'], '2001:db8::1:1', false],
    [['10.0.0.0/8'], '::ffff:10.2.3.4', true], // IPv4-mapped client matches IPv4 rules
    [['::ffff:10.0.0.0/104'], '10.2.3.4', true], // mapped rule folds to 10.0.0.0/8
    [['::ffff:10.0.0.1'], '10.0.0.1', true],
    [['10.0.0.1', '2001:db8::1'], '2001:db8::1', true],
    [['10.0.0.1', '2001:db8::1'], '10.0.0.1', true],
  ])('%j has %s: %s', (tokens, ip, expected) => {
    expect(inList(tokens, ip)).toBe(expected);
  });

  it('returns null for tokens that are no address form', () => {
    expect(parseIpToken('example.com')).toBeNull();
    expect(parseIpToken('*.example.com')).toBeNull();
  });

  it.each([
    ['10.0.0.0/33', 'prefix length must be 0-32'],
    ['2001:db8::/129', 'prefix length must be 0-128'],
    ['10.0.0.0/x', 'prefix length'],
    ['10.0.0.9-10.0.0.1', 'range start is above its end'],
    ['10.0.0.1-2001:db8::1', 'different address families'],
    ['::ffff:10.0.0.0/95', 'at least 96'],
  ])('throws PRX_ERR_CONFIG_VALUE for %s', (token, why) => {
    const err = thrown(() => parseIpToken(token, '/acl/0/allow/sources'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(why);
    expect(err.message).toContain(`/acl/0/allow/sources "${token}"`);
  });
});
