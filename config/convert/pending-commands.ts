/**
 * Translators for pending state other than the ACL and the log: internal, external, maxconn,
 * backlog, auth, authcache, and the TLS commands that put TLS on the next listeners.
 */
import { isIP } from 'node:net';
import type { ConvertState, TlsPolicy } from './state';
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

/** `ssl_client_*` / `ssl_server_*` policy commands: which side, and which setting. */
const POLICY: Record<string, ['client' | 'server', keyof TlsPolicy]> = {
  ssl_client_cipher_list: ['client', 'cipherList'],
  ssl_server_cipher_list: ['server', 'cipherList'],
  ssl_client_ciphersuites: ['client', 'cipherSuites'],
  ssl_server_ciphersuites: ['server', 'cipherSuites'],
  ssl_client_min_proto_version: ['client', 'minVersion'],
  ssl_server_min_proto_version: ['server', 'minVersion'],
  ssl_client_max_proto_version: ['client', 'maxVersion'],
  ssl_server_max_proto_version: ['server', 'maxVersion'],
};

/** Client key material and name settings (ssl.c h_client_*): one value, or none to unset. */
const CLIENT: Record<string, 'ca' | 'cert' | 'key' | 'sni'> = {
  ssl_client_ca_file: 'ca',
  ssl_client_cert: 'cert',
  ssl_client_key: 'key',
  ssl_client_sni: 'sni',
};

/**
 * TLS commands. They set state the next service lines copy (3proxy's ssl filter reads it when
 * a service starts): `ssl_serv` and the server side become the listener's `tls:`, `ssl_cli`
 * and the client side `upstreamTls:` or the `tls:` of "s" parents (service.ts decides which).
 */
export function tlsCommand(st: ConvertState, args: readonly string[]): void {
  const cmd = args[0] ?? '';
  const v = args[1];
  const policy = POLICY[cmd];
  if (policy !== undefined) {
    const [side, key] = policy;
    const cur: TlsPolicy = { ...(st.tls[side] ?? {}) };
    if (v === undefined) delete cur[key];
    else cur[key] = v;
    st.tls = { ...st.tls, [side]: cur };
    return;
  }
  const client = CLIENT[cmd];
  if (client !== undefined) {
    const cur = { ...(st.tls.client ?? {}) };
    if (v === undefined) delete cur[client];
    else cur[client] = v;
    st.tls = { ...st.tls, client: cur };
    return;
  }
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
    case 'ssl_server_key':
    case 'ssl_server_ca_file': {
      const key = cmd === 'ssl_server_cert' ? 'cert' : cmd === 'ssl_server_key' ? 'key' : 'ca';
      st.tls = { ...st.tls };
      if (v === undefined) delete st.tls[key];
      else st.tls[key] = v;
      return;
    }
    case 'ssl_server_verify':
    case 'ssl_server_no_verify':
      st.tls = { ...st.tls, requestCert: cmd === 'ssl_server_verify' };
      return;
    case 'ssl_cli':
    case 'ssl_client':
    case 'ssl_nocli':
    case 'ssl_noclient':
      st.tls = { ...st.tls, cli: cmd === 'ssl_cli' || cmd === 'ssl_client' };
      return;
    case 'ssl_client_verify':
    case 'ssl_client_no_verify':
      st.tls = { ...st.tls, client: { ...(st.tls.client ?? {}), verify: cmd === 'ssl_client_verify' } };
      return;
    case 'ssl_client_mode': {
      // 3proxy: atoi, so anything that is not a number is mode 0.
      const mode = Number.parseInt(v ?? '0', 10);
      if (![0, 1, 2, 3].includes(mode)) st.warn('PRXWRN007', `ssl_client_mode ${v ?? ''}: 3proxy knows modes 0-3; any other mode starts no upstream TLS`);
      st.tls = { ...st.tls, clientMode: Number.isNaN(mode) ? 0 : mode };
      return;
    }
    case 'ssl_client_alpn':
      st.tls = { ...st.tls, client: { ...(st.tls.client ?? {}), alpn: args.slice(1) } };
      if (args.length <= 1) delete st.tls.client!.alpn;
      return;
    case 'ssl_client_ca_dir':
    case 'ssl_client_ca_store':
    case 'ssl_server_ca_dir':
    case 'ssl_server_ca_store':
      st.warn('PRXWRN007', `${cmd} is not translated: give the CA certificates as one PEM file (${cmd.startsWith('ssl_client') ? 'ssl_client_ca_file, upstreamTls/tls: ca' : 'ssl_server_ca_file, tls: ca'})`);
      return;
    case 'ssl_nomitm':
      // Switch back to 3proxy's default, which is what the translated services do anyway.
      return;
    default:
      st.warn('PRXWRN007', `TLS issue: "${cmd}" (MITM) is not translated yet; the services that follow run without it`);
  }
}
