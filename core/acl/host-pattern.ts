/**
 * Name patterns for ACL `targets:` (host names) and `users:`.
 *
 * 3proxy's host patterns (ACLmatches, matchtype set by make_ace):
 *   `name`     exact, case-insensitive
 *   `prefix*`  host starts with prefix
 *   `*suffix`  host ends with suffix AND is strictly longer, so `*example.com` does not match
 *              `example.com` (write both, or `*.example.com` plus `example.com`)
 *   `*sub*`    host contains sub
 * The host is lower-cased and its trailing dots removed before comparing. (3proxy removes
 * them only from names longer than five characters; we always do, so `x.co.` cannot slip
 * past a rule for `x.co`.)
 *
 * `users:` names are exact and case-sensitive as in 3proxy; the same `*` forms are our
 * extension, with ordinary glob meaning (`*` may match nothing, so `b*` matches `b`).
 */
import { proxyError } from '../errors';
import type { ProxyError } from '../errors';

/** How a pattern compares; the numbers are 3proxy's matchtype values, kept for reference. */
const Kind = { Contains: 0, Prefix: 1, Suffix: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Pattern {
  readonly kind: Kind;
  readonly text: string;
}

const bad = (token: string, where: string, why: string): ProxyError =>
  proxyError('PRX_ERR_CONFIG_VALUE', `${where ? `${where} ` : ''}"${token}"`, why);

function splitPattern(token: string, where: string): Pattern | string {
  const lead = token.startsWith('*');
  const trail = token.length > 1 && token.endsWith('*');
  const core = token.slice(lead ? 1 : 0, trail ? -1 : undefined);
  if (core.length === 0) throw bad(token, where, 'pattern has nothing between its "*"s');
  if (core.includes('*')) throw bad(token, where, '"*" is allowed only at the start and/or the end');
  if (lead && trail) return { kind: Kind.Contains, text: core };
  if (lead) return { kind: Kind.Suffix, text: core };
  if (trail) return { kind: Kind.Prefix, text: core };
  return core;
}

/**
 * A compiled name list: exact names in a Set (one hash lookup), the `*` forms in a short
 * array. One class serves hosts and users so the ACL walk's call sites stay monomorphic.
 */
export class NamePatterns {
  private readonly exact = new Set<string>();
  /** Up to four exact names compared directly: cheaper than hashing for the usual short lists. */
  private readonly few: string[] = [];
  private readonly patterns: Pattern[] = [];
  /** Hosts: `*suffix` needs a strictly longer name (3proxy). Users: plain glob. */
  private readonly strictSuffix: boolean;

  constructor(tokens: readonly string[], options: { hosts: boolean; where?: string }) {
    this.strictSuffix = options.hosts;
    for (const raw of tokens) {
      const where = options.where ?? '';
      if (raw.length === 0) throw bad(raw, where, 'empty name');
      if (/\s/.test(raw)) throw bad(raw, where, 'names cannot contain white space');
      const p = splitPattern(options.hosts ? raw.toLowerCase() : raw, where);
      if (typeof p === 'string') this.exact.add(p);
      else this.patterns.push(p);
    }
    if (this.exact.size <= 4) {
      this.few.push(...this.exact);
      this.exact.clear();
    }
  }

  /** Hosts must already be normalized (normalizeHost), once per request rather than per rule. */
  has(name: string): boolean {
    const few = this.few;
    for (let i = 0; i < few.length; i++) if (few[i] === name) return true;
    if (this.exact.size > 0 && this.exact.has(name)) return true;
    const list = this.patterns;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as Pattern;
      if (p.kind === Kind.Suffix) {
        if (name.endsWith(p.text) && (name.length > p.text.length || !this.strictSuffix)) return true;
      } else if (p.kind === Kind.Prefix) {
        if (name.startsWith(p.text)) return true;
      } else if (name.includes(p.text)) return true;
    }
    return false;
  }
}

/** Lower-cases a requested host name and removes trailing dots (the form rules compare with). */
export function normalizeHost(host: string): string {
  let end = host.length;
  while (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  return (end === host.length ? host : host.slice(0, end)).toLowerCase();
}

/** Host patterns as a predicate over normalized hosts. */
export function compileHostPatterns(tokens: readonly string[], where = ''): (host: string) => boolean {
  const set = new NamePatterns(tokens, { hosts: true, where });
  return (host) => set.has(host);
}

/** `users:` as a predicate: case-sensitive names plus glob-style `*` forms. */
export function compileUserPatterns(tokens: readonly string[], where = ''): (user: string) => boolean {
  const set = new NamePatterns(tokens, { hosts: false, where });
  return (user) => set.has(user);
}
