/**
 * A service line (`proxy -p3128`, `tcppm 8080 host 80` ...) starts a listener with a copy of
 * the pending state: auth chain, ACL with its parents, maxconn, backlog, log target and
 * format, internal/external addresses, TLS. The YAML service carries that snapshot.
 */
import { isIP } from 'node:net';
import { parseFlags } from './flags';
import type { ServiceFlags } from './flags';
import type { AclRule, LogSetting, ServiceOut, SourceRef } from './model';
import { DEFAULT_LOG_FORMAT } from './model';
import type { ConvertState, TlsPolicy } from './state';
import { mitmOf } from './mitm-commands';

/** Default ports from conf.c h_proxy (smtpp: 587 in 3proxy 1.0.0's code). */
export const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  proxy: 3128,
  socks: 1080,
  pop3p: 110,
  smtpp: 587,
  imapp: 143,
  ftppr: 21,
  tlspr: 1443,
  auto: 8080,
  admin: 80,
  dnspr: 53,
  tcppm: 0,
  udppm: 0,
};

const hostPort = (host: string, port: number): string => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);

/** `tcppm|udppm [flags] SRCPORT DSTHOST DSTPORT`: exactly three positional arguments. */
function portMap(st: ConvertState, type: string, flags: ServiceFlags): { port: number; target: string } {
  const [src, host, dst] = flags.positional;
  const port = Number(/^\d*/.exec(src ?? '')?.[0] || '0');
  const dstPort = Number(/^\d*/.exec(dst ?? '')?.[0] || '0');
  if (flags.positional.length !== 3 || port === 0 || port > 65535 || dstPort === 0 || dstPort > 65535 || host === undefined) {
    st.fail(`Service not started: ${type} needs SRCPORT DSTHOST DSTPORT after its options (got "${flags.positional.join(' ')}")`);
  }
  const target = host.startsWith('unix:') ? host : hostPort(host.replace(/^\[(.*)\]$/, '$1'), dstPort);
  return { port, target };
}

function listenOf(st: ConvertState, type: string, flags: ServiceFlags, mappedPort?: number): string {
  const host = flags.internal ?? st.internal ?? '0.0.0.0';
  if (host.startsWith('unix:')) return host;
  const port = mappedPort ?? flags.port ?? DEFAULT_PORTS[type] ?? 0;
  return hostPort(host, port);
}

function uniqueName(st: ConvertState, type: string, listen: string): string {
  const port = listen.startsWith('unix:') ? 'unix' : listen.slice(listen.lastIndexOf(':') + 1);
  const base = `${type}-${port}`;
  let name = base;
  for (let n = 2; st.serviceNames.has(name); n++) name = `${base}-${n}`;
  st.serviceNames.add(name);
  return name;
}

/** An ACL entry as YAML. A redirect with extra `parent` lines becomes allow + parents. */
export function aclEntry(rule: AclRule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const parents = rule.parents.map((p) => p.parent);
  if (rule.action === 'redirect' && rule.redirect !== undefined && parents.length === 0) {
    out['redirect'] = { ...rule.redirect, match: rule.match };
  } else if (rule.action === 'deny') {
    out['deny'] = rule.match;
  } else {
    out['allow'] = rule.match;
    const own = rule.redirect === undefined ? [] : [{ weight: 1000, type: 'http', ...rule.redirect }];
    if (own.length + parents.length > 0) out['parents'] = [...own, ...parents];
  }
  if (rule.nolog === true) out['nolog'] = true;
  if (rule.weight !== undefined) out['weight'] = rule.weight;
  return out;
}

function accessLogOf(st: ConvertState, flags: ServiceFlags): LogSetting {
  const to = flags.logTo ?? st.log.target?.value ?? 'none';
  const format = flags.format ?? st.log.format?.value ?? DEFAULT_LOG_FORMAT;
  return to === 'none' ? { to } : { to, format };
}

function externalOf(st: ConvertState, flags: ServiceFlags): string | string[] | undefined {
  const v4 = flags.external.v4 ?? st.external.v4;
  const v6 = flags.external.v6 ?? st.external.v6;
  if (v4 !== undefined && v6 !== undefined) return [v4, v6];
  return v4 ?? v6;
}

function aclOf(st: ConvertState, type: string, auth: readonly string[]): Record<string, unknown>[] | undefined {
  for (const r of st.acl) r.used = true;
  if (st.acl.length === 0) return undefined;
  if (auth[0] === 'none') {
    st.warn('PRXWRN001', `${st.acl.length} ACL entr${st.acl.length === 1 ? 'y is' : 'ies are'} left out of this ${type} service`);
    return undefined;
  }
  // A rule that matches everything (`allow *`, `deny *`) leaves nothing for the implicit deny.
  const catchAll = st.acl.some((r) => Object.keys(r.match).length === 0);
  if ((type === 'proxy' || type === 'auto') && !catchAll) {
    st.warn('PRXWRN003', `add "deny *" as the last ACL line before this ${type} service`);
  }
  return st.acl.map(aclEntry);
}

/** 3proxy's version names (strcasecmp); below TLS 1.2 has no rx3proxy equivalent. */
function versionOf(st: ConvertState, what: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const known = ['TLSv1.2', 'TLSv1.3'].find((k) => k.toLowerCase() === v.toLowerCase());
  if (known !== undefined) return known;
  const old = ['SSLv3', 'TLSv1', 'TLSv1.1'].some((k) => k.toLowerCase() === v.toLowerCase());
  st.warn('PRXWRN007', old ? `${what} ${v}: versions below TLSv1.2 are not offered by rx3proxy; left at the default` : `${what} ${v}: 3proxy does not know this version and ignores it`);
  return undefined;
}

/** Cipher list and versions: 3proxy's TLS 1.3 suites and TLS 1.2 list go into one OpenSSL string. */
function policyOf(st: ConvertState, side: 'client' | 'server', p: TlsPolicy | undefined): Record<string, unknown> {
  if (p === undefined) return {};
  const out: Record<string, unknown> = {};
  const min = versionOf(st, `ssl_${side}_min_proto_version`, p.minVersion);
  const max = versionOf(st, `ssl_${side}_max_proto_version`, p.maxVersion);
  if (min !== undefined) out['minVersion'] = min;
  if (max !== undefined) out['maxVersion'] = max;
  const ciphers = [p.cipherSuites, p.cipherList].filter((c) => c !== undefined && c !== '').join(':');
  if (ciphers !== '') out['ciphers'] = ciphers;
  return out;
}

function tlsOf(st: ConvertState): Record<string, unknown> | undefined {
  if (st.tls.serve !== true) return undefined;
  const { cert, key, ca, requestCert } = st.tls;
  if (cert === undefined || key === undefined) st.warn('PRXWRN007', 'ssl_serv without ssl_server_cert and ssl_server_key');
  const tls: Record<string, unknown> = {};
  if (cert !== undefined) tls['cert'] = cert;
  if (key !== undefined) tls['key'] = key;
  if (ca !== undefined) tls['ca'] = ca;
  if (requestCert !== undefined) tls['requestCert'] = requestCert;
  return { ...tls, ...policyOf(st, 'server', st.tls.server) };
}

/**
 * The client side (ssl_cli) as a `tls:`-style block. 3proxy verifies nothing without
 * ssl_client_verify, and checks the name only when ssl_client_sni gives one; rx3proxy verifies
 * by default and checks the name it connects to, so both differences are spelled out.
 */
function clientTlsOf(st: ConvertState, where: string): Record<string, unknown> {
  const c = st.tls.client ?? {};
  const out: Record<string, unknown> = {};
  if (c.ca !== undefined) out['ca'] = c.ca;
  if (c.verify !== true) {
    out['verify'] = false;
    st.warn('PRXWRN007', `${where}: the certificate is not verified, as in 3proxy without ssl_client_verify (rx3proxy verifies by default: add ssl_client_verify, or remove "verify: false")`);
  } else if (c.sni === undefined) {
    st.warn('PRXWRN007', `${where}: 3proxy checks only the chain without ssl_client_sni; rx3proxy also checks the certificate's name against the host it connects to`);
  }
  if (c.sni !== undefined) out['servername'] = c.sni;
  if (c.alpn !== undefined) out['alpn'] = [...c.alpn];
  if (c.cert !== undefined) out['cert'] = c.cert;
  if (c.key !== undefined) out['key'] = c.key;
  if ((c.cert === undefined) !== (c.key === undefined)) st.warn('PRXWRN007', `${where}: ssl_client_cert and ssl_client_key go together; 3proxy refuses one without the other`);
  return { ...out, ...policyOf(st, 'client', c) };
}

/** The protocol inside a hop with 3proxy's "s" suffix (`https` is http + s). */
const plainType = (type: string): string => type.slice(0, -1);
const TLS_HOPS = new Set(['tcps', 'https', 'connects', 'connect+s', 'socks4s', 'socks4+s', 'socks5s', 'socks5+s']);
const isTlsHop = (type: string): boolean => TLS_HOPS.has(type);

/**
 * "s" parents speak TLS only under ssl_cli with ssl_client_mode 3 (ssl.c ssl_parent); otherwise
 * 3proxy talks plain text to them, and so does the translation. http + s is an HTTP CONNECT
 * parent behind TLS in rx3proxy (`https`).
 */
function tlsParents(st: ConvertState, acl: Record<string, unknown>[]): void {
  const tlsOn = st.tls.cli === true && st.tls.clientMode === 3;
  let block: Record<string, unknown> | undefined;
  for (const entry of acl) {
    const parents = entry['parents'] as Record<string, unknown>[] | undefined;
    if (parents === undefined) continue;
    entry['parents'] = parents.map((p) => {
      const type = String(p['type']);
      if (!isTlsHop(type)) return p;
      if (!tlsOn) {
        const plain = plainType(type);
        st.warn('PRXWRN007', `parent type ${type}: 3proxy speaks TLS to "s" parents only with ssl_cli and ssl_client_mode 3, so it is translated as ${plain}`);
        return { ...p, type: plain };
      }
      block ??= clientTlsOf(st, `TLS to parent ${String(p['host'])}`);
      return Object.keys(block).length > 0 ? { ...p, tls: { ...block } } : p;
    });
  }
}

/** ssl_cli in modes 0-2: TLS to the target, which is what `upstreamTls:` does. */
function upstreamTlsOf(st: ConvertState, type: string, acl: readonly Record<string, unknown>[] | undefined): Record<string, unknown> | undefined {
  if (st.tls.cli !== true) return undefined;
  const mode = st.tls.clientMode ?? 0;
  if (mode === 3) {
    const any = (acl ?? []).some((e) => ((e['parents'] as Record<string, unknown>[] | undefined) ?? []).some((p) => isTlsHop(String(p['type']))));
    if (!any) st.warn('PRXWRN007', `ssl_client_mode 3 starts TLS only with "s" parents, and this ${type} service has none`);
    return undefined;
  }
  if (![0, 1, 2].includes(mode)) return undefined;
  if (type === 'udppm' || type === 'dnspr') {
    st.warn('PRXWRN007', `ssl_cli has no effect on the UDP service ${type}`);
    return undefined;
  }
  if (mode === 2) st.warn('PRXWRN007', 'ssl_client_mode 2: 3proxy starts upstream TLS for CONNECT requests only; upstreamTls applies to every request of the service');
  const chained = (acl ?? []).some((e) => e['parents'] !== undefined);
  if (mode === 0 && chained) st.warn('PRXWRN007', 'ssl_client_mode 0 with parents: 3proxy starts TLS with the first parent; upstreamTls speaks TLS to the target through the chain (use ssl_client_mode 3 and an "s" parent type for TLS to a parent)');
  return clientTlsOf(st, 'upstream TLS (ssl_cli)');
}

/** Translates one service line. */
export function service(st: ConvertState, args: readonly string[]): void {
  const type = args[0] ?? '';
  const flags = parseFlags(st, type, args);
  let mapped: { port: number; target: string } | undefined;
  if (type === 'tcppm' || type === 'udppm') mapped = portMap(st, type, flags);
  else if (flags.positional.length > 0) st.fail(`Service not started: unexpected argument "${flags.positional[0] ?? ''}" after the options of ${type}`);
  const listen = listenOf(st, type, flags, mapped?.port);
  const auth = st.auth?.value ?? ['iponly'];
  if (auth.some((a) => a === 'cache' || a === 'cacheacl') && !st.scalars.has('authCache')) {
    st.warn('PRXWRN007', 'auth cache is used but no authcache line comes before: the cache never hits');
  }
  const external = externalOf(st, flags);
  const acl = aclOf(st, type, auth);
  if (acl !== undefined) tlsParents(st, acl);
  const tls = tlsOf(st);
  const upstreamTls = upstreamTlsOf(st, type, acl);
  const mitm = mitmOf(st, type);
  // Built in the emitted key order: name, type, listen, external, target, auth, acl, ...
  const svc: ServiceOut = {
    name: uniqueName(st, type, listen),
    type,
    listen,
    ...(external === undefined ? {} : { external }),
    ...(mapped === undefined ? {} : { target: mapped.target }),
    auth: [...auth],
  };
  if (acl !== undefined) svc.acl = acl;
  if (st.maxconn !== undefined) svc.maxconn = st.maxconn;
  if (st.backlog !== undefined) svc.backlog = st.backlog;
  svc.accessLog = accessLogOf(st, flags);
  if (tls !== undefined) svc.tls = tls;
  if (upstreamTls !== undefined) svc.upstreamTls = upstreamTls;
  if (mitm !== undefined) svc.mitm = mitm;
  if (Object.keys(flags.options).length > 0) svc.options = flags.options;
  if (st.filters.length > 0) svc.filters = [...st.filters];
  st.services.push(st.sourced(svc));
  const meta: { rules: AclRule[]; auth?: SourceRef } = { rules: acl === undefined ? [] : [...st.acl] };
  if (st.auth !== undefined) meta.auth = st.auth.src;
  st.serviceMeta.push(meta);
}
