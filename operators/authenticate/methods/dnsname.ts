/**
 * `dnsname` (3proxy dnsauth): the client's PTR name, confirmed by a forward lookup, becomes
 * the user; then the ACL. Any failure is 3proxy's 3, so the chain falls through.
 *
 * Lookups come from `env.symbols.get('auth.dnsname.lookups')` (a NameLookups; tests inject
 * one) or the system resolver.
 */
import { proxyError } from '../../../core/errors';
import { lookupClientName, systemNameLookups, type NameLookups } from '../../../core/auth';
import type { MethodFactory } from '../types';

/** env.symbols key for injected reverse/forward lookups. */
export const DNSNAME_LOOKUPS_SYMBOL = 'auth.dnsname.lookups';

export const dnsname: MethodFactory = (ctx) => {
  const lookups = (ctx.env.symbols.get(DNSNAME_LOOKUPS_SYMBOL) as NameLookups | undefined) ?? systemNameLookups;
  return {
    name: 'dnsname',
    async authenticate(s) {
      const found = await lookupClientName(s.connection.clientAddress, lookups);
      // 3proxy replaces the username with the PTR name before the forward check.
      if (found.name !== null) s.user = found.name;
      return found.confirmed ? null : proxyError('PRX_ERR_AUTH_DNSNAME', s.connection.clientAddress);
    },
    authorize: (s) => ctx.walk(s),
  };
};
