/**
 * Name resolution as the `connect` step sees it. The default is the system resolver
 * (getaddrinfo via dns.lookup); `nserver`/`nscache`/`nsrecord` resolvers implement the same
 * interface (connect/resolver issue).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { proxyError, proxyErrorFrom } from '../errors';

/** 3proxy's -4 -6 -46 -64: which families to use and which first. */
export type FamilyPolicy = '4' | '6' | '46' | '64';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface Resolver {
  /** Addresses for `host` in the policy's order; rejects with PRX_ERR_DNS_* codes. */
  resolve(host: string, policy: FamilyPolicy, signal?: AbortSignal): Promise<ResolvedAddress[]>;
}

/** Orders and filters addresses by policy: '4' v4 only, '6' v6 only, '46' v4 first, '64' v6 first. */
export function applyPolicy(addrs: readonly ResolvedAddress[], policy: FamilyPolicy): ResolvedAddress[] {
  const v4 = addrs.filter((a) => a.family === 4);
  const v6 = addrs.filter((a) => a.family === 6);
  switch (policy) {
    case '4':
      return v4;
    case '6':
      return v6;
    case '46':
      return [...v4, ...v6];
    case '64':
      return [...v6, ...v4];
  }
}

/**
 * A literal IPv4/IPv6 address (brackets allowed) as the policy admits it: null for a name,
 * throws PRX_ERR_ADDRESS_FAMILY when the policy excludes the address's family. Synchronous, so
 * the connect step dials literals without a resolver promise.
 */
export function literalAddresses(host: string, policy: FamilyPolicy): ResolvedAddress[] | null {
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  const family = isIP(address);
  if (family === 0) return null;
  const out = applyPolicy([{ address, family: family as 4 | 6 }], policy);
  if (out.length === 0) throw proxyError('PRX_ERR_ADDRESS_FAMILY', address);
  return out;
}

export class SystemResolver implements Resolver {
  async resolve(host: string, policy: FamilyPolicy, signal?: AbortSignal): Promise<ResolvedAddress[]> {
    const literal = literalAddresses(host, policy);
    if (literal !== null) return literal;
    let found: { address: string; family: number }[];
    try {
      found = await lookup(host, { all: true, verbatim: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw proxyErrorFrom('PRX_ERR_DNS_NOT_FOUND', err, host);
      throw proxyErrorFrom('PRX_ERR_DNS_FAILED', err, host, code ?? String(err));
    }
    signal?.throwIfAborted();
    const out = applyPolicy(
      found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
      policy,
    );
    if (out.length === 0) throw proxyError('PRX_ERR_DNS_NOT_FOUND', host);
    return out;
  }
}
