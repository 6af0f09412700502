/**
 * ACL translators: allow, deny, redirect, parent, nolog, weight, flush (conf.c h_ace,
 * h_parent, h_nolog, h_flush). They change the pending ACL that the next service copies.
 */
import { parseAce } from './ace';
import type { AclRule, Parent } from './model';
import type { ConvertState } from './state';

/** Hop types, each also with an `s` suffix where TLS to the parent makes sense. */
const HOP_TYPES = new Set(['tcp', 'http', 'connect', 'connect+', 'socks4', 'socks4+', 'socks5', 'socks5+', 'socks4b', 'socks5b', 'extip', 'ha']);
const TLS_CAPABLE = new Set(['tcp', 'http', 'connect', 'connect+', 'socks4', 'socks4+', 'socks5', 'socks5+']);
/** Local-redirect types: the request goes to another built-in handler (`0.0.0.0 0` only). */
const LOCAL_TYPES = new Set(['pop3', 'smtp', 'ftp', 'imap', 'admin', 'tls', 'dns']);

function addRule(st: ConvertState, action: AclRule['action'], fields: readonly string[], redirect?: { host: string; port: number }): void {
  const { match, weight } = parseAce(st, fields);
  const rule: AclRule = { action, match, parents: [], src: st.src, used: false };
  if (redirect !== undefined) rule.redirect = redirect;
  if (weight !== undefined) rule.weight = weight;
  st.acl.push(rule);
  st.allRules.push(rule);
}

export function allow(st: ConvertState, args: readonly string[]): void {
  addRule(st, 'allow', args.slice(1));
}

export function deny(st: ConvertState, args: readonly string[]): void {
  addRule(st, 'deny', args.slice(1));
}

/** `redirect IP PORT <ACE>`: allow plus an http hop (legacy form of allow + parent). */
export function redirect(st: ConvertState, args: readonly string[]): void {
  const host = args[1] ?? '';
  const port = portOf(st, args[2]);
  addRule(st, 'redirect', args.slice(3), { host, port });
}

function portOf(st: ConvertState, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > 65535) st.fail(`bad port "${text ?? ''}"`);
  return Number(text);
}

function parentType(st: ConvertState, type: string): void {
  if (HOP_TYPES.has(type) || LOCAL_TYPES.has(type)) return;
  if (type.endsWith('s') && TLS_CAPABLE.has(type.slice(0, -1))) return;
  st.fail(`Chaining error: bad chain type (${type})`);
}

/** `parent WEIGHT TYPE HOST[/cidr] PORT [USER [PASS]]`, attached to the last allow/redirect. */
export function parent(st: ConvertState, args: readonly string[]): void {
  const rule = st.lastRule();
  if (rule === undefined || rule.action === 'deny') st.fail('Chaining error: last ACL entry was not "allow" or "redirect"');
  // atoi: leading digits, anything else reads as 0.
  const weight = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (weight === 0 || weight > 1000) st.fail(`Chaining error: bad chain weight ${weight}`);
  const type = args[2] ?? '';
  parentType(st, type);
  const host = args[3] ?? '';
  const port = portOf(st, args[4]);
  if (LOCAL_TYPES.has(type) && (host !== '0.0.0.0' || port !== 0)) {
    st.fail(`Chaining error: parent type ${type} requires 0.0.0.0 0 (local redirection to the ${type} handler)`);
  }
  const p: Parent = { weight, type, host, port };
  if (args[5] !== undefined) p.user = args[5];
  if (args[6] !== undefined) p.password = args[6];
  rule.parents.push({ parent: p, src: st.src });
}

/** `nolog` / `weight N`: a flag on the last ACL entry, whatever its action. */
export function nolog(st: ConvertState, args: readonly string[]): void {
  const rule = st.lastRule();
  if (rule === undefined) st.fail('Chaining error: last ACL entry was not "allow/deny"');
  if (args[0] === 'nolog') {
    rule.nolog = true;
    return;
  }
  const w = args[1] ?? '';
  if (!/^\d+$/.test(w)) st.fail(`weight "${w}" is not a number`);
  rule.weight = Number(w);
}

export function flush(st: ConvertState): void {
  reportUnused(st, 'flushed before any service line used it');
  st.acl = [];
}

/** ACL entries no service copied are dead config: say so once per entry. */
export function reportUnused(st: ConvertState, why: string): void {
  for (const r of st.acl) {
    if (r.used) continue;
    r.used = true; // report once
    st.warn('PRXWRN007', `ACL entry "${r.src.text.trim()}" has no effect: ${why}`, r.src);
  }
}

/**
 * 3proxy draws one hop per group of consecutive parents whose weights add up to 1000; a
 * group left short (sum < 1000) sometimes yields no hop, and the request goes out directly.
 */
export function checkParentGroups(st: ConvertState): void {
  for (const rule of st.allRules) {
    let sum = 0;
    for (const { parent: p } of rule.parents) {
      sum += p.weight;
      if (sum >= 1000) sum = 0;
    }
    const last = rule.parents[rule.parents.length - 1];
    if (sum > 0 && last !== undefined) {
      st.warn('PRXWRN006', `the last group adds up to ${sum}: about ${Math.round((1000 - sum) / 10)}% of requests get no parent from it`, last.src);
    }
  }
}
