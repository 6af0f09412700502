/**
 * `auth dnsname`: the client's DNS name, as 3proxy's dnsauth finds it.
 *
 *   PTR of the client address -> first name (becomes the user, even if the check below fails:
 *   3proxy overwrites the username before confirming)
 *   forward lookup of that name in the client's family -> must contain the client address
 *
 * 3proxy compares only the first A/AAAA answer, which makes round-robin names flaky; any
 * returned address is accepted here. IPv4-mapped IPv6 clients are looked up as IPv4.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/** The two lookups dnsname needs; injectable so tests need no network. */
export interface NameLookups {
  /** PTR names of an address (empty or rejecting when none). */
  reverse(address: string): Promise<string[]>;
  /** Addresses of a name in one family. */
  forward(name: string, family: 4 | 6): Promise<string[]>;
}

/** The system resolver: `dns.reverse` and getaddrinfo (so /etc/hosts counts, as for connect). */
export const systemNameLookups: NameLookups = {
  reverse: (address) => dns.reverse(address),
  forward: async (name, family) => (await dns.lookup(name, { family, all: true })).map((a) => a.address),
};

export interface DnsNameResult {
  /** The PTR name, or null when the reverse lookup found none. */
  readonly name: string | null;
  /** The forward lookup of `name` contains the client address. */
  readonly confirmed: boolean;
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`; anything else unchanged. */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

/** Canonical text of an address so `::1` and `0:0::1` compare equal. */
function canonical(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

/** Reverse-then-forward check of a client address; lookup failures count as "no name". */
export async function lookupClientName(clientAddress: string, lookups: NameLookups): Promise<DnsNameResult> {
  const address = unmapAddress(clientAddress);
  const family = isIP(address);
  if (family === 0) return { name: null, confirmed: false };
  let names: string[];
  try {
    names = await lookups.reverse(address);
  } catch {
    return { name: null, confirmed: false };
  }
  const name = names[0]?.replace(/\.$/, '');
  if (name === undefined || name === '') return { name: null, confirmed: false };
  let addrs: string[];
  try {
    addrs = await lookups.forward(name, family as 4 | 6);
  } catch {
    return { name, confirmed: false };
  }
  const want = canonical(address);
  return { name, confirmed: addrs.some((a) => canonical(unmapAddress(a)) === want) };
}
