import { SystemResolver, literalAddresses } from '../../core/net/resolver';

describe('literal target addresses', () => {
  it('returns IPv4 and IPv6 literals (brackets allowed) without a lookup, and null for names', () => {
    expect(literalAddresses('127.0.0.1', '46')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(literalAddresses('[::1]', '64')).toEqual([{ address: '::1', family: 6 }]);
    expect(literalAddresses('::1', '46')).toEqual([{ address: '::1', family: 6 }]);
    expect(literalAddresses('localhost', '46')).toBeNull();
  });

  it('refuses a literal whose family the policy excludes (3proxy -4 / -6)', () => {
    expect(() => literalAddresses('::1', '4')).toThrow(expect.objectContaining({ code: 'PRX_ERR_ADDRESS_FAMILY' }) as Error);
    expect(() => literalAddresses('10.0.0.1', '6')).toThrow(expect.objectContaining({ code: 'PRX_ERR_ADDRESS_FAMILY' }) as Error);
  });

  it('is what the system resolver answers for literals', async () => {
    const r = new SystemResolver();
    await expect(r.resolve('[::1]', '46')).resolves.toEqual([{ address: '::1', family: 6 }]);
    await expect(r.resolve('::1', '4')).rejects.toMatchObject({ code: 'PRX_ERR_ADDRESS_FAMILY' });
  });
});
