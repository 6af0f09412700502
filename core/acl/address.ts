/**
 * IP addresses and address lists for ACL `sources:` and `targets:` (3proxy's `scanipl` +
 * `IPInentry`, rewritten).
 *
 * An address is kept as numbers, never as BigInt or bytes: IPv4 is one uint32, IPv6 four
 * uint32 words, most significant first. Comparing a v4 client against a list is then a loop
 * over a Uint32Array, and a v6 comparison is at most four integer compares.
 *
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is folded to IPv4, both in requests (dual-stack sockets
 * report v4 clients that way) and in rule tokens, so one `10.0.0.0/8` rule covers both forms.
 * Otherwise the family must match, as in 3proxy: `::/0` does not match IPv4 clients.
 */
import { proxyError } from '../errors';
import type { ProxyError } from '../errors';

/** A parsed address. For IPv4 only `w3` is used; the other words are 0. */
export interface IpAddress {
  readonly v6: boolean;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** One inclusive range [from, to] of a single family. */
export interface IpRange {
  readonly from: IpAddress;
  readonly to: IpAddress;
}

const DEC_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function v4(n: number): IpAddress {
  return { v6: false, w0: 0, w1: 0, w2: 0, w3: n >>> 0 };
}

/** Strict dotted quad (no leading zeros, which some libcs read as octal) to a uint32, or -1. */
function parseV4Number(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let n = 0;
  for (const p of parts) {
    if (!DEC_OCTET.test(p)) return -1;
    const octet = Number(p);
    if (octet > 255) return -1;
    n = n * 256 + octet;
  }
  return n;
}

/** IPv6 text to eight 16-bit groups, or null. Accepts `::` compression and a dotted v4 tail. */
function parseV6Groups(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : [];
  const groups: number[] = [];
  const pushAll = (list: string[], last: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i] ?? '';
      if (last && i === list.length - 1 && g.includes('.')) {
        const n = parseV4Number(g);
        if (n < 0) return false;
        groups.push(n >>> 16, n & 0xffff);
      } else if (HEX_GROUP.test(g)) groups.push(parseInt(g, 16));
      else return false;
    }
    return true;
  };
  const compressed = halves.length === 2;
  if (!pushAll(head, !compressed)) return null;
  const headLen = groups.length;
  if (!pushAll(tail, true)) return null;
  const missing = 8 - groups.length;
  if (compressed ? missing < 1 : missing !== 0) return null;
  if (compressed) groups.splice(headLen, 0, ...new Array<number>(missing).fill(0));
  return groups;
}

function fromGroups(g: readonly number[]): IpAddress {
  const w = (i: number): number => (((g[i] ?? 0) << 16) | (g[i + 1] ?? 0)) >>> 0;
  const w0 = w(0);
  const w1 = w(2);
  const w2 = w(4);
  const w3 = w(6);
  // IPv4-mapped: fold to IPv4 so v4 rules apply (see the file comment).
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return v4(w3);
  return { v6: true, w0, w1, w2, w3 };
}

/**
 * Parses an address literal: dotted IPv4, or IPv6 optionally in `[...]` and with a `%zone`
 * (dropped). Returns null when the text is not an address.
 */
export function parseIp(text: string): IpAddress | null {
  let s = text;
  if (s.length === 0) return null;
  if (s.charCodeAt(0) === 91 /* [ */ && s.endsWith(']')) s = s.slice(1, -1);
  if (!s.includes(':')) {
    const n = parseV4Number(s);
    return n < 0 ? null : v4(n);
  }
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const groups = parseV6Groups(s);
  return groups === null ? null : fromGroups(groups);
}

/** -1, 0 or 1; both addresses must be of the same family. */
export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.w0 !== b.w0) return a.w0 < b.w0 ? -1 : 1;
  if (a.w1 !== b.w1) return a.w1 < b.w1 ? -1 : 1;
  if (a.w2 !== b.w2) return a.w2 < b.w2 ? -1 : 1;
  if (a.w3 !== b.w3) return a.w3 < b.w3 ? -1 : 1;
  return 0;
}

/** The 32-bit mask for word `i` (0-3) of a prefix of `bits` bits over the 128-bit word array. */
function wordMask(i: number, bits: number): number {
  const covered = Math.min(32, Math.max(0, bits - 32 * i));
  return covered === 0 ? 0 : covered === 32 ? 0xffffffff : (0xffffffff << (32 - covered)) >>> 0;
}

function cidrRange(base: IpAddress, prefix: number): IpRange {
  // IPv4 lives in w3, so a v4 prefix counts from bit 96 of the 128-bit word array.
  const bits = base.v6 ? prefix : prefix + 96;
  const words = [base.w0, base.w1, base.w2, base.w3];
  const lo = words.map((w, i) => (w & wordMask(i, bits)) >>> 0);
  const hi = words.map((w, i) => (w | ~wordMask(i, bits)) >>> 0);
  const make = (w: number[]): IpAddress =>
    base.v6 ? { v6: true, w0: w[0] ?? 0, w1: w[1] ?? 0, w2: w[2] ?? 0, w3: w[3] ?? 0 } : v4(w[3] ?? 0);
  return { from: make(lo), to: make(hi) };
}

const bad = (token: string, where: string, why: string): ProxyError =>
  proxyError('PRX_ERR_CONFIG_VALUE', `${where ? `${where} ` : ''}"${token}"`, why);

/** Literal in a rule token: like parseIp, but no brackets or zones (they are never meant there). */
function ruleIp(text: string): IpAddress | null {
  return /[[\]%]/.test(text) ? null : parseIp(text);
}

/** True when `token` can only have been meant as an address form (so a parse failure is an error). */
export function looksLikeIpToken(token: string): boolean {
  return token.includes('/') || token.includes(':') || /^[0-9.-]+$/.test(token);
}

/**
 * Parses one rule token: `IP`, `IP/len` or `IPa-IPb`. Returns null when the token is not an
 * address form at all; throws PRX_ERR_CONFIG_VALUE (naming the token) when it is one but
 * broken (bad prefix, reversed range, mixed families).
 */
export function parseIpToken(token: string, where = ''): IpRange | null {
  const slash = token.indexOf('/');
  if (slash >= 0) {
    const base = ruleIp(token.slice(0, slash));
    const lenText = token.slice(slash + 1);
    if (base === null) return null;
    // A mapped v6 prefix folded to v4 loses its first 96 bits.
    const raw = token.slice(0, slash).includes(':');
    const max = raw ? 128 : 32;
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw bad(token, where, `prefix length must be 0-${max}`);
    let prefix = Number(lenText);
    if (raw && !base.v6) {
      if (prefix < 96) throw bad(token, where, 'IPv4-mapped prefix must be at least 96');
      prefix -= 96;
    }
    return cidrRange(base, prefix);
  }
  const dash = token.indexOf('-');
  if (dash >= 0) {
    const from = ruleIp(token.slice(0, dash));
    const to = ruleIp(token.slice(dash + 1));
    if (from === null || to === null) return null;
    if (from.v6 !== to.v6) throw bad(token, where, 'range ends are of different address families');
    if (compareIp(from, to) > 0) throw bad(token, where, 'range start is above its end');
    return { from, to };
  }
  const ip = ruleIp(token);
  return ip === null ? null : { from: ip, to: ip };
}

/** A compiled address list: `has(ip)` is true when any range contains `ip`. */
export class IpList {
  /** IPv4 ranges as flat [from, to, from, to, ...] pairs: the common case, kept cheap. */
  private readonly v4: Uint32Array;
  private readonly v6: readonly IpRange[];

  constructor(ranges: readonly IpRange[]) {
    const four = ranges.filter((r) => !r.from.v6);
    this.v4 = new Uint32Array(four.length * 2);
    four.forEach((r, i) => {
      this.v4[2 * i] = r.from.w3;
      this.v4[2 * i + 1] = r.to.w3;
    });
    this.v6 = ranges.filter((r) => r.from.v6);
  }

  get size(): number {
    return this.v4.length / 2 + this.v6.length;
  }

  has(ip: IpAddress): boolean {
    if (!ip.v6) {
      const list = this.v4;
      const n = ip.w3;
      for (let i = 0; i < list.length; i += 2) {
        if (n >= (list[i] ?? 0) && n <= (list[i + 1] ?? 0)) return true;
      }
      return false;
    }
    for (const r of this.v6) {
      if (compareIp(ip, r.from) >= 0 && compareIp(ip, r.to) <= 0) return true;
    }
    return false;
  }
}
