/**
 * Service flags (proxymain.c option switch, inventory §1.2): `-pPORT -iADDR -eADDR -a ...`
 * come right after the service name, value glued to the letter. Parsing stops at the first
 * argument that does not start with `-`. An unknown flag stops the service, as in 3proxy.
 *
 * A flag that 3proxy accepts on a service but ignores there (`socks -a`) is reported and left
 * out, so the option schema of each template stays strict.
 */
import { isIP } from 'node:net';
import type { ConvertState } from './state';
import { logTarget } from './log-commands';

/** What the flags of one service line say. */
export interface ServiceFlags {
  port?: number;
  internal?: string;
  external: { v4?: string; v6?: string };
  logTo?: string;
  format?: string;
  options: Record<string, unknown>;
  /** Arguments after the flags (tcppm/udppm: SRCPORT DSTHOST DSTPORT). */
  positional: string[];
}

const TCP = ['proxy', 'socks', 'tcppm', 'pop3p', 'smtpp', 'imapp', 'ftppr', 'admin', 'tlspr', 'auto'];
/** Flags that only some services use; elsewhere 3proxy parses and ignores them. */
const ONLY: Readonly<Record<string, readonly string[]>> = {
  a: ['proxy', 'auto'],
  T: ['proxy', 'auto'],
  h: ['pop3p', 'smtpp', 'imapp', 'ftppr'],
  x: ['pop3p', 'smtpp', 'imapp'],
  X: ['tlspr', 'auto'],
  P: ['tlspr', 'auto', 'pop3p', 'smtpp', 'imapp'],
  c: ['tlspr', 'auto'],
  F: ['dnspr'],
  U: ['socks', 'auto'],
  N: ['socks', 'auto'],
  r: ['proxy', 'socks', 'auto'],
  R: ['tcppm'],
  u: ['proxy', 'socks', 'auto', 'pop3p', 'smtpp', 'imapp', 'ftppr', 'admin'],
  C: TCP,
  H: TCP,
  s: ['udppm', 'dnspr', 'admin', 'tlspr', 'proxy', 'socks', 'auto'],
};

const SOCKET_OPTIONS = new Set([
  'TCP_NODELAY', 'TCP_CORK', 'TCP_DEFER_ACCEPT', 'TCP_QUICKACK', 'TCP_TIMESTAMPS', 'TCP_FASTOPEN', 'TCP_FASTOPEN_CONNECT',
  'TCP_MAXSEG', 'SO_REUSEADDR', 'SO_REUSEPORT', 'SO_EXCLUSIVEADDRUSE', 'SO_PORT_SCALABILITY', 'SO_REUSE_UNICASTPORT',
  'SO_KEEPALIVE', 'SO_DONTROUTE', 'IP_TRANSPARENT',
]);

type FlagHandler = (st: ConvertState, value: string, type: string, out: ServiceFlags, flag: string) => void;

const opt = (out: ServiceFlags, key: string, value: unknown): void => {
  out.options[key] = value;
};

const num = (st: ConvertState, flag: string, value: string): number => {
  if (!/^\d+$/.test(value)) st.fail(`Service not started: option ${flag} needs a number`);
  return Number(value);
};

function socketOptions(st: ConvertState, value: string, _type: string, out: ServiceFlags, flag: string): void {
  const where = { c: 'client', s: 'server', l: 'listen' }[value.charAt(0)];
  if (value.charAt(0) === 'r' || value.charAt(0) === 'R') {
    st.warn('PRXWRN004', `${flag}: connect-back socket options are not translated`);
    return;
  }
  if (where === undefined) st.fail(`Service not started: unknown option "${flag}" (3proxy prints its usage)`);
  if (flag.startsWith('-O')) st.warn('PRXWRN007', `${flag}: read as -o${value} (3proxy's switch only has lowercase -o)`);
  const names = value.slice(1).split(',').filter((n) => n !== '');
  for (const n of names) if (!SOCKET_OPTIONS.has(n)) st.warn('PRXWRN004', `socket option "${n}" is unknown; 3proxy ignores it`);
  if (names.includes('TCP_MAXSEG')) st.warn('PRXWRN004', 'TCP_MAXSEG cannot be set from Node.js');
  const so = (out.options['socketOptions'] ?? {}) as Record<string, string[]>;
  so[where] = names.filter((n) => SOCKET_OPTIONS.has(n) && n !== 'TCP_MAXSEG');
  opt(out, 'socketOptions', so);
}

function single(st: ConvertState, value: string, type: string, out: ServiceFlags): void {
  if (type === 'udppm') opt(out, 'singlePacket', true);
  else if (type === 'dnspr') opt(out, 'simple', true);
  else if (type === 'admin') opt(out, 'readOnly', true);
  else opt(out, 'split', true);
  if (value !== '' && type !== 'udppm') st.warn('PRXWRN004', `-s${value}: the number is ignored`);
}

const HANDLERS: Readonly<Record<string, FlagHandler>> = {
  p: (st, v, _t, out, f) => {
    const port = num(st, f, v);
    if (port > 65535) st.fail(`Service not started: bad port ${v}`);
    out.port = port;
  },
  i: (st, v, _t, out) => {
    if (v === '') st.warn('PRXWRN004', '-i without an address');
    else out.internal = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  },
  e: (st, v, _t, out, f) => {
    if (v === '') st.fail(`Service not started: ${f} needs an address`);
    if (isIP(v) === 6) out.external.v6 = v;
    else out.external.v4 = v;
  },
  l: (st, v, _t, out) => {
    out.logTo = logTarget(st, v === '' ? undefined : v);
  },
  f: (_st, v, _t, out) => {
    out.format = v;
  },
  t: (_st, _v, _t, out) => opt(out, 'silent', true),
  b: (st, v, _t, out, f) => opt(out, 'bufferSize', num(st, f, v)),
  a: (st, v, _t, out, f) => {
    if (v === '') opt(out, 'anonymous', true);
    else if (v === '1') opt(out, 'xForwardedFor', 'random');
    else if (v === '2') opt(out, 'xForwardedFor', 'client');
    else st.warn('PRXWRN004', `${f}: unknown anonymity level`);
  },
  T: (_st, _v, _t, out) => opt(out, 'passProxyHeaders', true),
  u: (_st, v, _t, out) => {
    if (v === '2') opt(out, 'userAuth', 'required');
    else if (v === '1') opt(out, 'userAuth', 'auto');
    else opt(out, 'userAuth', 'never');
  },
  h: (_st, v, _t, out) => opt(out, 'defaultHost', v),
  x: (_st, _v, _t, out) => opt(out, 'noStarttls', true),
  X: (st, v, _t, out, f) => {
    if (!['imap', 'pop3', 'smtp'].includes(v)) st.fail(`Service not started: ${f}: STARTTLS mode must be imap, pop3 or smtp`);
    opt(out, 'starttls', v);
  },
  P: (st, v, _t, out, f) => opt(out, 'tlsPort', num(st, f, v)),
  c: (st, v, _t, out) => {
    const level = /^\d/.test(v) ? Number(/^\d+/.exec(v)?.[0]) : 1;
    if (level > 4) st.warn('PRXWRN004', `-c${v}: TLS check levels go up to 4`);
    opt(out, 'tlsCheck', Math.min(level, 4));
  },
  s: single,
  F: (_st, v, _t, out) => opt(out, 'fakeAddresses', [...((out.options['fakeAddresses'] as string[] | undefined) ?? []), v]),
  U: (st, v, _t, out, f) => opt(out, 'udpRecheck', v === '' ? 0 : Math.min(num(st, f, v), 3)),
  N: (_st, v, _t, out) => {
    if (v.startsWith('i')) opt(out, 'udpNatAddress', v.slice(1));
    else opt(out, 'natAddress', v.startsWith('e') ? v.slice(1) : v);
  },
  C: (_st, v, _t, out) => opt(out, 'halfClose', v === '1'),
  H: (_st, _v, _t, out) => opt(out, 'proxyProtocol', true),
  r: (_st, v, _t, out) => opt(out, 'connectBack', v),
  R: (_st, v, _t, out) => opt(out, 'connectBackListen', v),
  o: socketOptions,
  O: socketOptions,
  D: (_st, v, _t, out) => {
    const dev = (out.options['bindDevice'] ?? {}) as Record<string, string>;
    dev[v.startsWith('i') ? 'listen' : 'outgoing'] = v.slice(1);
    opt(out, 'bindDevice', dev);
  },
  '4': (st, v, _t, out, f) => {
    if (!['4', '6', '46', '64'].includes(f.slice(1))) st.fail(`Service not started: unknown option "${f}"`);
    opt(out, 'family', f.slice(1));
  },
  n: (st, v) => {
    // Plain -n once meant "no NTLM" and is still common; -ni/-ne name a network namespace.
    if (v.startsWith('i') || v.startsWith('e')) st.warn('PRXWRN004', `-n${v}: network namespaces are not supported`);
  },
  S: (st, v) => st.warn('PRXWRN004', `-S${v}: thread stack size has no meaning in rx3proxy`),
  g: (st, v) => st.warn('PRXWRN004', `-g${v}: the grace delay is a 3proxy polling workaround, not needed here`),
  d: (st) => st.warn('PRXWRN004', '-d: rx3proxy does not daemonize; use a service manager'),
};

/** Parses the flags of `args` (args[0] is the service type). */
export function parseFlags(st: ConvertState, type: string, args: readonly string[]): ServiceFlags {
  const out: ServiceFlags = { external: {}, options: {}, positional: [] };
  let i = 1;
  for (; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('-')) break;
    const letter = arg.charAt(1) === '6' ? '4' : arg.charAt(1);
    const handler = HANDLERS[letter];
    if (handler === undefined) st.fail(`Service not started: unknown option "${arg}" for ${type} (3proxy prints its usage)`);
    const only = ONLY[letter];
    if (only !== undefined && !only.includes(type)) {
      st.warn('PRXWRN004', `${arg} on ${type} (3proxy accepts it there and ignores it)`);
      continue;
    }
    handler(st, arg.slice(2), type, out, arg);
  }
  out.positional = args.slice(i);
  return out;
}
