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
import type { ConvertState } from './state';

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

function tlsOf(st: ConvertState): Record<string, unknown> | undefined {
  if (st.tls.serve !== true) return undefined;
  const { cert, key, ca, requestCert } = st.tls;
  if (cert === undefined || key === undefined) st.warn('PRXWRN007', 'ssl_serv without ssl_server_cert and ssl_server_key');
  const tls: Record<string, unknown> = {};
  if (cert !== undefined) tls['cert'] = cert;
  if (key !== undefined) tls['key'] = key;
  if (ca !== undefined) tls['ca'] = ca;
  if (requestCert !== undefined) tls['requestCert'] = requestCert;
  return tls;
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
  const tls = tlsOf(st);
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
  if (Object.keys(flags.options).length > 0) svc.options = flags.options;
  if (st.filters.length > 0) svc.filters = [...st.filters];
  st.services.push(st.sourced(svc));
  const meta: { rules: AclRule[]; auth?: SourceRef } = { rules: acl === undefined ? [] : [...st.acl] };
  if (st.auth !== undefined) meta.auth = st.auth.src;
  st.serviceMeta.push(meta);
}
