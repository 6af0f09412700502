import { socks5Reply } from '../../operators/readRequest/socks-reply';
import { encodeAddress } from '../../operators/readRequest/socks-parse';

describe('socks5Reply', () => {
  it.each([
    ['127.0.0.1', 1080],
    ['0.0.0.0', 0],
    ['255.255.255.255', 65535],
    ['10.20.30.40', 443],
    ['::ffff:192.168.1.2', 8080],
  ])('encodes IPv4 %s:%d as RFC 1928 ATYP 1 (10 bytes)', (address, port) => {
    const reply = socks5Reply(0, address, port);
    expect(reply).toEqual(Buffer.concat([Buffer.from([5, 0, 0]), encodeAddress(address, port)]));
    expect(reply.length).toBe(10);
    expect([...reply.subarray(0, 4)]).toEqual([5, 0, 0, 1]);
    expect(reply.readUInt16BE(8)).toBe(port);
  });

  it('carries the reply code, IPv6 and the empty address', () => {
    expect([...socks5Reply(5, '', 0)]).toEqual([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    const v6 = socks5Reply(0, '::1', 53);
    expect(v6.length).toBe(22);
    expect(v6[3]).toBe(4);
    expect(v6[19]).toBe(1);
    expect(v6.readUInt16BE(20)).toBe(53);
  });
});
