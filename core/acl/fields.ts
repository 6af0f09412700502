/**
 * One rule's match fields compiled to plain data (`MatchFields`), and the single function
 * that tests them (`fieldsMatch`).
 *
 * Every rule has the same shape and one function tests them all, so the ACL walk's call
 * sites stay monomorphic: a closure per field or per rule made them megamorphic and cost
 * about half the walk. Checks run cheapest first: operation bitmask, port, user, addresses,
 * clock.
 */
import { OPERATIONS } from '../session';
import type { Operation } from '../session';
import { proxyError } from '../errors';
import type { ProxyError } from '../errors';
import { IpList, looksLikeIpToken, parseIpToken } from './address';
import type { IpRange } from './address';
import { NamePatterns } from './host-pattern';
import { OPERATION_BITS } from './prepared';
import type { PreparedRequest } from './prepared';
import { compileTimes, compileWeekdays, inPeriods } from './time';
import type { MatchSpec } from './match';

const HTTP_OPS: readonly Operation[] = ['HTTP_GET', 'HTTP_PUT', 'HTTP_POST', 'HTTP_HEAD', 'HTTP_OTHER'];
const FTP_OPS: readonly Operation[] = ['FTP_GET', 'FTP_PUT', 'FTP_LIST', 'FTP_DATA'];
const bitsOf = (ops: readonly Operation[]): number => ops.reduce((m, op) => m | OPERATION_BITS[op], 0);

/** 3proxy's union names: HTTP is every HTTP_* but HTTP_CONNECT, HTTPS is HTTP_CONNECT. */
const UNION_BITS: Readonly<Record<string, number>> = {
  HTTP: bitsOf(HTTP_OPS),
  HTTPS: OPERATION_BITS.HTTP_CONNECT,
  FTP: bitsOf(FTP_OPS),
};

const bad = (token: string | number, where: string, why: string): ProxyError =>
  proxyError('PRX_ERR_CONFIG_VALUE', `${where ? `${where} ` : ''}"${token}"`, why);

/** Compiles an `operations:` list to a bitmask. */
export function compileOperations(tokens: readonly string[], where = ''): number {
  let mask = 0;
  for (const t of tokens) {
    const bit = UNION_BITS[t] ?? (OPERATION_BITS as Record<string, number | undefined>)[t];
    if (bit === undefined) throw bad(t, where, `unknown operation; use ${OPERATIONS.join(', ')}, HTTP, HTTPS or FTP`);
    mask |= bit;
  }
  return mask;
}

/** Compiles `ports:` to flat [from, to, ...] pairs. */
export function compilePorts(tokens: readonly string[], where = ''): Int32Array {
  const out = new Int32Array(tokens.length * 2);
  tokens.forEach((t, i) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t);
    const from = m === null ? -1 : Number(m[1]);
    const to = m === null ? -1 : m[2] === undefined ? from : Number(m[2]);
    if (m === null || from > 65535 || to > 65535) throw bad(t, where, 'port must be 0-65535 or a range like 8000-8100');
    if (to < from) throw bad(t, where, 'port range start is above its end');
    out[2 * i] = from;
    out[2 * i + 1] = to;
  });
  return out;
}

/** A rule's fields, compiled. `null` (or a 0 mask) = field not named: matches anything. */
export class MatchFields {
  constructor(
    readonly operations: number,
    readonly ports: Int32Array | null,
    readonly users: NamePatterns | null,
    readonly sources: IpList | null,
    /** The `targets:` field is named; either list below may still be null. */
    readonly targets: boolean,
    readonly targetIps: IpList | null,
    readonly targetHosts: NamePatterns | null,
    readonly weekdays: number,
    readonly times: Int32Array | null,
  ) {}
}

/** The list as strings, or null when the field means "any" (omitted, or contains `*`). */
function field(list: readonly (string | number)[] | undefined, where: string): string[] | null {
  if (list === undefined) return null;
  if (list.length === 0) throw bad('[]', where, 'empty list; omit the field (or write ["*"]) to match anything');
  const tokens = list.map((t) => String(t).trim());
  return tokens.includes('*') ? null : tokens;
}

function ipList(tokens: readonly string[], where: string): IpList {
  return new IpList(
    tokens.map((t) => {
      const r = parseIpToken(t, where);
      if (r === null) throw bad(t, where, 'not an IP address, CIDR or range');
      return r;
    }),
  );
}

/** Splits `targets:` into address ranges and host patterns (3proxy: whatever parses as an address is one). */
function targetLists(tokens: readonly string[] | null, where: string): [IpList | null, NamePatterns | null] {
  if (tokens === null) return [null, null];
  const ranges: IpRange[] = [];
  const names: string[] = [];
  for (const t of tokens) {
    const r = parseIpToken(t, where);
    if (r !== null) ranges.push(r);
    else if (looksLikeIpToken(t)) throw bad(t, where, 'not a valid IP address, CIDR or range');
    else names.push(t);
  }
  return [ranges.length > 0 ? new IpList(ranges) : null, names.length > 0 ? new NamePatterns(names, { hosts: true, where }) : null];
}

/** Compiles a rule's match fields; `where` (a JSON pointer) prefixes the token errors name. */
export function compileFields(m: MatchSpec, where = ''): MatchFields {
  const at = (name: string): string => `${where}/${name}`;
  const ops = field(m.operations, at('operations'));
  const ports = field(m.ports, at('ports'));
  const users = field(m.users, at('users'));
  const sources = field(m.sources, at('sources'));
  const targets = field(m.targets, at('targets'));
  const days = field(m.weekdays, at('weekdays'));
  const times = field(m.times, at('times'));
  const [targetIps, targetHosts] = targetLists(targets, at('targets'));
  return new MatchFields(
    ops === null ? 0 : compileOperations(ops, at('operations')),
    ports === null ? null : compilePorts(ports, at('ports')),
    users === null ? null : new NamePatterns(users, { hosts: false, where: at('users') }),
    sources === null ? null : ipList(sources, at('sources')),
    targets !== null,
    targetIps,
    targetHosts,
    days === null ? 0 : compileWeekdays(days, at('weekdays')),
    times === null ? null : compileTimes(times, at('times')),
  );
}

function portMatches(pairs: Int32Array, p: PreparedRequest): boolean {
  const port = p.req.port;
  // Port 0 (not applicable) skips the check; 3proxy still checks BIND.
  if (port === 0 && p.req.operation !== 'BIND') return true;
  for (let i = 0; i < pairs.length; i += 2) {
    if (port >= (pairs[i] as number) && port <= (pairs[i + 1] as number)) return true;
  }
  return false;
}

function targetMatches(f: MatchFields, p: PreparedRequest): boolean {
  const addr = p.target();
  const host = p.host();
  // 3proxy: nothing to compare means the field counts as matched, except that BIND is
  // still checked against the (empty) address.
  if (addr === null && host === '') return f.targetIps === null || p.req.operation !== 'BIND';
  if (f.targetIps !== null && addr !== null && f.targetIps.has(addr)) return true;
  return f.targetHosts !== null && host !== '' && f.targetHosts.has(host);
}

/** Tests compiled fields against a prepared request. */
export function fieldsMatch(f: MatchFields, p: PreparedRequest): boolean {
  if (f.operations !== 0 && (f.operations & p.opBit) === 0) return false;
  if (f.ports !== null && !portMatches(f.ports, p)) return false;
  if (f.users !== null && !f.users.has(p.user)) return false;
  if (f.sources !== null) {
    const ip = p.client();
    if (ip === null || !f.sources.has(ip)) return false;
  }
  if (f.targets && !targetMatches(f, p)) return false;
  if (f.weekdays !== 0 && (f.weekdays & p.weekdayBit()) === 0) return false;
  return f.times === null || inPeriods(f.times, p.seconds());
}
