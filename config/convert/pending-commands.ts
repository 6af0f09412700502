/**
 * Translators for pending state other than the ACL and the log: internal, external, maxconn,
 * backlog, auth, authcache, and the TLS commands that put TLS on the next listeners.
 */
import { isIP } from 'node:net';
import type { ConvertState } from './state';
import { intArg } from './state';

const unbracket = (a: string): string => (a.startsWith('[') && a.endsWith(']') ? a.slice(1, -1) : a);

export function internal(st: ConvertState, args: readonly string[]): void {
  st.internal = unbracket(args[1] ?? '');
}

/** `external IP`: once for IPv4 and once for IPv6 sets both source addresses. */
export function external(st: ConvertState, args: readonly string[]): void {
  const addr = unbracket(args[1] ?? '');
  if (addr === '') st.fail('external: missing address');
  if (isIP(addr) === 6) st.external.v6 = addr;
  else st.external.v4 = addr;
}

export function maxconn(st: ConvertState, args: readonly string[]): void {
  const n = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (n === 0) st.fail(`Command: 'maxconn' failed with code 1 ("${args[1] ?? ''}" is not a positive number)`);
  st.maxconn = n;
}

export function backlog(st: ConvertState, args: readonly string[]): void {
  const n = intArg(st, args[1], 'backlog');
  if (n <= 0) st.warn('PRXWRN004', `backlog ${n}: the default (1 + maxconn/8) is used`);
  else st.backlog = n;
}

const BUILTIN_AUTH = new Set(['none', 'iponly', 'useronly', 'dnsname', 'strong', 'cache', 'cacheacl', 'radius']);
/** Auth types 3proxy gets from plugins: library that provides each. */
const PLUGIN_AUTH: Record<string, string> = {
  pam: 'PamAuth',
  windows: 'WindowsAuthentication',
  ldap: 'LdapPlugin',
  utf8tocp1251: 'utf8tocp1251',
};

export function auth(st: ConvertState, args: readonly string[]): void {
  const types = args.slice(1);
  for (const t of types) {
    if (BUILTIN_AUTH.has(t)) continue;
    if (t === 'nbname') st.fail(`Command: 'auth' failed with code 1 (auth type "nbname" was removed from 3proxy)`);
    const lib = PLUGIN_AUTH[t];
    if (lib === undefined) st.fail(`Command: 'auth' failed with code 1 (unknown auth type "${t}")`);
    st.warn('PRXWRN007', `auth type "${t}" comes from the 3proxy ${lib} plugin; rx3proxy needs a plugin that provides it`);
  }
  if (types.includes('radius')) st.warn('PRXWRN007', 'auth radius needs a RADIUS plugin in rx3proxy (3proxy marks it experimental)');
  const strong = types.indexOf('strong');
  const cache = types.findIndex((t) => t === 'cache' || t === 'cacheacl');
  if (strong >= 0 && cache > strong) st.warn('PRXWRN002', `"${args.join(' ')}": write "auth cache strong"`);
  st.auth = st.sourced(types);
}

const CACHE_KEYS: Record<string, string> = {
  ip: 'ip',
  user: 'user',
  pass: 'password',
  password: 'password',
  limit: 'limit',
  acl: 'acl',
  ext: 'ext',
  dstaddr: 'dstaddr',
  dstport: 'dstport',
  dsthost: 'dsthost',
  dstoper: 'dstoper',
  srvaddr: 'srvaddr',
  srvport: 'srvport',
};

/** `authcache KEYS [SECONDS [SIZE]]`; defaults user,password / 600 s / 262144. */
export function authcache(st: ConvertState, args: readonly string[]): void {
  const keys: string[] = [];
  for (const k of (args[1] ?? '').split(',').filter((x) => x !== '')) {
    const key = CACHE_KEYS[k];
    if (key === undefined) st.warn('PRXWRN004', `authcache key "${k}" is unknown to 3proxy`);
    else if (!keys.includes(key)) keys.push(key);
  }
  const ttl = Number(/^\d*/.exec(args[2] ?? '')?.[0] || '0') || 600;
  const value: Record<string, unknown> = { keys: keys.length > 0 ? keys : ['user', 'password'], ttl: `${ttl}s` };
  if (args[3] !== undefined) value['size'] = intArg(st, args[3], 'authcache size');
  st.set('authCache', value);
}

/** TLS commands: `ssl_serv` and the server key material become `tls:` on the next services. */
export function tlsCommand(st: ConvertState, args: readonly string[]): void {
  const cmd = args[0] ?? '';
  const v = args[1];
  switch (cmd) {
    case 'ssl_serv':
    case 'ssl_server':
      st.tls = { ...st.tls, serve: true };
      return;
    case 'ssl_noserv':
    case 'ssl_noserver':
      st.tls = { ...st.tls, serve: false };
      return;
    case 'ssl_server_cert':
      st.tls = { ...st.tls, cert: v ?? '' };
      return;
    case 'ssl_server_key':
      st.tls = { ...st.tls, key: v ?? '' };
      return;
    case 'ssl_server_ca_file':
      st.tls = { ...st.tls, ca: v ?? '' };
      return;
    case 'ssl_server_verify':
    case 'ssl_server_no_verify':
      st.tls = { ...st.tls, requestCert: cmd === 'ssl_server_verify' };
      return;
    case 'ssl_nocli':
    case 'ssl_noclient':
      // Switch back to 3proxy's default, which is what the translated services do anyway.
      return;
    default:
      st.warn('PRXWRN007', `TLS issue: "${cmd}" (client-side TLS and TLS policy commands) is not translated yet; the services that follow run without it`);
  }
}
