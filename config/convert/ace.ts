/**
 * 3proxy's ACE fields (conf.c `make_ace`) to a YAML `match:` object:
 *
 *   allow <users> <sources> <targets> <ports> <operations> <weekdays> <times> [weight]
 *
 * `*` and missing trailing fields mean "any" and are omitted. Lists are comma-separated;
 * empty items are skipped (strtok). What 3proxy refuses is refused with its wording: a bad
 * source address ("Invalid IP, IP range or CIDR"), a bad port ("Invalid port or port range"),
 * an unknown operation ("Unknown operation type").
 */
import { isIP } from 'node:net';
import type { ConvertState } from './state';
import type { Match } from './model';

export const OPERATION_NAMES = new Set([
  'CONNECT', 'BIND', 'UDPASSOC', 'ICMPASSOC', 'HTTP_GET', 'HTTP_PUT', 'HTTP_POST', 'HTTP_HEAD', 'HTTP_OTHER',
  'HTTP_CONNECT', 'HTTP', 'HTTPS', 'FTP_GET', 'FTP_PUT', 'FTP_LIST', 'FTP_DATA', 'FTP', 'ADMIN', 'DNSRESOLVE',
]);

const items = (field: string): string[] => field.split(',').filter((s) => s !== '');

/** One address, CIDR or range of one family (3proxy scanipl); false for host names. */
export function isAddressToken(token: string): boolean {
  const dash = token.indexOf('-');
  if (dash >= 0) {
    const a = token.slice(0, dash);
    const b = token.slice(dash + 1);
    return isIP(a) !== 0 && isIP(a) === isIP(b);
  }
  const slash = token.indexOf('/');
  const addr = slash >= 0 ? token.slice(0, slash) : token;
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = token.slice(slash + 1);
  return /^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function ports(st: ConvertState, field: string): (number | string)[] {
  return items(field).map((p) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (m === null || Number(m[1]) > 65535 || Number(m[2] ?? 0) > 65535) st.fail(`Invalid port or port range (bad port range "${p}")`);
    if (m[2] === undefined) return Number(m[1]);
    if (Number(m[2]) < Number(m[1])) st.warn('PRXWRN007', `port range "${p}" ends before it starts: it never matches`);
    return p;
  });
}

function weekdays(st: ConvertState, field: string): (number | string)[] {
  const out: (number | string)[] = [];
  for (const d of items(field)) {
    if (/^[0-7]$/.test(d)) out.push(Number(d));
    else if (/^[0-7]-[0-7]$/.test(d)) out.push(d);
    else st.warn('PRXWRN007', `weekday "${d}" is not a digit 0-7 or a range like 1-5: left out`);
  }
  return out;
}

/** 3proxy stops reading periods at the first malformed or wrapping one. */
function times(st: ConvertState, field: string): string[] {
  const out: string[] = [];
  for (const t of items(field)) {
    const m = /^(\d\d):(\d\d):(\d\d)-(\d\d):(\d\d):(\d\d)$/.exec(t);
    const sec = (h: string, mi: string, s: string): number => Number(h) * 3600 + Number(mi) * 60 + Number(s);
    if (m === null || sec(m[4]!, m[5]!, m[6]!) < sec(m[1]!, m[2]!, m[3]!)) {
      st.warn('PRXWRN007', `time period "${t}" is malformed or wraps midnight; 3proxy ignores it and the periods after it`);
      break;
    }
    out.push(t);
  }
  return out;
}

/** Builds the match object of an ACE from its fields (the arguments after the command's own). */
export function parseAce(st: ConvertState, fields: readonly string[]): { match: Match; weight?: number } {
  const match: Match = {};
  const f = (i: number): string | undefined => {
    const v = fields[i];
    return v === undefined || v === '*' ? undefined : v;
  };
  const users = f(0);
  if (users !== undefined) match.users = items(users);
  const sources = f(1);
  if (sources !== undefined) {
    match.sources = items(sources);
    for (const s of match.sources) if (!isAddressToken(s)) st.fail(`Invalid IP, IP range or CIDR "${s}"`);
  }
  const targets = f(2);
  if (targets !== undefined) match.targets = items(targets);
  const portField = f(3);
  if (portField !== undefined) match.ports = ports(st, portField);
  const ops = f(4);
  if (ops !== undefined) {
    match.operations = items(ops);
    for (const op of match.operations) if (!OPERATION_NAMES.has(op)) st.fail(`Unknown operation type: ${op}`);
  }
  const days = f(5);
  if (days !== undefined) {
    const list = weekdays(st, days);
    if (list.length > 0) match.weekdays = list;
  }
  const periods = f(6);
  if (periods !== undefined) {
    const list = times(st, periods);
    if (list.length > 0) match.times = list;
  }
  for (const key of Object.keys(match) as (keyof Match)[]) if (match[key]?.length === 0) delete match[key];
  const w = fields[7];
  if (w === undefined) return { match };
  if (!/^\d+$/.test(w)) st.fail(`ACL weight "${w}" is not a number`);
  return { match, weight: Number(w) };
}
