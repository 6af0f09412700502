/**
 * Egress address pools (beyond 3proxy's single `-e` and `extip`): the source address of an
 * outgoing connection drawn from a list of addresses and prefixes.
 *
 *   egress: { pool: [ADDR | ADDR/LEN ...], sticky }   (a service, or one ACL rule)
 *     entries of the target's family -> one entry: random, or sticky: hash(user) mod count
 *     a prefix entry -> an address inside: random bits, or sticky: bits from hash(user)
 *
 * Sticky keys on the user name, or on the client address for requests without one, so one
 * user keeps one egress address (for sites that pin sessions to an IP). A prefix only works
 * when the host can bind its addresses (a local route for it, or net.ipv6.ip_nonlocal_bind=1).
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { proxyError } from '../errors';
import { ipBytes } from './proxy-protocol';
import type { Session } from '../session';

export interface EgressSpec {
  readonly pool: readonly string[];
  readonly sticky?: boolean;
}

/** session.state key of the pool an ACL rule chose (it wins over the service's). */
export const EGRESS_KEY = 'connect.egress';

interface Entry {
  readonly base: Buffer;
  /** Prefix length; the full width for a single address. */
  readonly len: number;
}

/** Writes an address from its bytes (IPv6 in the usual compressed-free hex groups). */
function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** `base` with the bits after `len` taken from `fill` (random or hashed bytes, at least as long). */
function fillHostBits(base: Buffer, len: number, fill: Buffer): string {
  const bytes = Buffer.from(base);
  for (let bit = len; bit < bytes.length * 8; bit++) {
    const mask = 0x80 >> bit % 8;
    const idx = bit >> 3;
    bytes[idx] = (bytes[idx]! & ~mask) | (fill[idx]! & mask);
  }
  return formatIp(bytes);
}

/** Parses "addr" or "addr/len"; undefined when it is neither. */
function parseEntry(text: string): Entry | undefined {
  const [addr = '', lenText, extra] = text.split('/');
  const fam = isIP(addr);
  if (fam === 0 || extra !== undefined) return undefined;
  const width = fam === 4 ? 32 : 128;
  const len = lenText === undefined ? width : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > width || (lenText !== undefined && !/^\d+$/.test(lenText))) return undefined;
  return { base: ipBytes(addr, fam === 4 ? 4 : 6), len };
}

/** A random address inside "addr/len" (extip with a prefix: one egress address per connection). */
export function randomInPrefix(cidr: string): string {
  const e = parseEntry(cidr);
  if (e === undefined) throw proxyError('PRX_ERR_CONFIG_VALUE', cidr, 'expected ADDRESS/LENGTH');
  return fillHostBits(e.base, e.len, randomBytes(e.base.length));
}

export class EgressPool {
  private readonly v4: readonly Entry[];
  private readonly v6: readonly Entry[];
  private readonly sticky: boolean;

  /** Validates the entries; `where` names the config location in errors. */
  constructor(spec: EgressSpec, where: string) {
    const entries = spec.pool.map((text, i) => {
      const e = parseEntry(text);
      if (e === undefined) throw proxyError('PRX_ERR_CONFIG_VALUE', `${where}/pool/${i}`, `"${text}" is not an address or ADDRESS/LENGTH prefix`);
      return e;
    });
    this.v4 = entries.filter((e) => e.base.length === 4);
    this.v6 = entries.filter((e) => e.base.length === 16);
    this.sticky = spec.sticky === true;
  }

  /** A source address for a connection to a `family` address, or undefined (no entry of that family). */
  pick(family: 4 | 6, stickyKey: string): string | undefined {
    const list = family === 4 ? this.v4 : this.v6;
    if (list.length === 0) return undefined;
    const digest = this.sticky ? createHash('sha256').update(stickyKey).digest() : undefined;
    const index = list.length === 1 ? 0 : digest !== undefined ? digest.readUInt32BE(0) % list.length : Math.floor(Math.random() * list.length);
    const e = list[index]!;
    if (e.len === e.base.length * 8) return formatIp(e.base);
    // The host bits come from bytes after the index's, so the address does not repeat the index choice.
    const fill = digest !== undefined ? createHash('sha256').update(digest).digest() : randomBytes(e.base.length);
    return fillHostBits(e.base, e.len, fill);
  }
}

/** The key a sticky pool hashes: the user, else the client address. */
export function stickyKey(session: Session): string {
  return session.user !== null ? `u:${session.user}` : `a:${session.connection.clientAddress}`;
}

/** Compiled pools by their config object (rules and services compile once, not per request). */
const compiled = new WeakMap<object, EgressPool>();

export function egressPool(spec: EgressSpec, where: string): EgressPool {
  let pool = compiled.get(spec);
  if (pool === undefined) {
    pool = new EgressPool(spec, where);
    compiled.set(spec, pool);
  }
  return pool;
}

/**
 * The source address for a connection to an address of `family`: an ACL rule's pool, else the
 * service's, else undefined (the caller falls back to `external`).
 */
export function egressAddress(session: Session, servicePool: EgressPool | null, family: 4 | 6): string | undefined {
  const pool = (session.peekState(EGRESS_KEY) as EgressPool | undefined) ?? servicePool;
  return pool?.pick(family, stickyKey(session));
}

/** `external:` as one address or a [v4, v6] pair (3proxy allows -e twice). */
function externalAddresses(value: unknown): { v4?: string; v6?: string } {
  const list = Array.isArray(value) ? (value as string[]) : typeof value === 'string' ? [value] : [];
  const out: { v4?: string; v6?: string } = {};
  for (const a of list) {
    if (a.includes(':')) out.v6 = a;
    else out.v4 = a;
  }
  return out;
}

export type SourceChooser = (session: Session, family: 4 | 6) => string | undefined;

/** A service's source address rule: the ACL rule's pool, the service's `egress`, then `external`. */
export function serviceSource(cfg: Readonly<Record<string, unknown>>, name: string): SourceChooser {
  const pool = cfg['egress'] === undefined ? null : egressPool(cfg['egress'] as EgressSpec, `/services/${name}/egress`);
  const ext = externalAddresses(cfg['external']);
  return (session, family) => egressAddress(session, pool, family) ?? (family === 6 ? ext.v6 : ext.v4);
}
