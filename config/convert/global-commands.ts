/**
 * Translators for global commands: users, the resolver (nserver, nscache, nsrecord,
 * fakeresolve, authnserver), timeouts and the process-level settings (pidfile, setuid,
 * monitor, config, plugin, ...). Where they appear in the script does not matter to 3proxy.
 */
import { isIP } from 'node:net';
import { pluginForEntry, usePlugin } from './plugin-commands';
import type { ConvertState } from './state';
import { intArg } from './state';
import { sizeString } from './model';

const TYPED = new Set(['CL', 'CR', 'NT']);

/** One `users` entry: `name:CL:pw`, `name:CR:$1$...`, `name:NT:hex`, or `name:pw` (cleartext). */
function userEntry(st: ConvertState, entry: string): void {
  const colon = entry.indexOf(':');
  if (colon <= 0) {
    st.warn('PRXWRN004', `users entry "${entry}" has no "name:" part; 3proxy keeps it but nobody can log in with it`);
    return;
  }
  const name = entry.slice(0, colon);
  const rest = entry.slice(colon + 1);
  let secret = `CL:${rest}`;
  if (rest.charAt(2) === ':' && /^[A-Z]{2}$/.test(rest.slice(0, 2))) {
    const type = rest.slice(0, 2);
    if (!TYPED.has(type)) {
      st.warn('PRXWRN004', `users entry for "${name}" has password type ${type}, which 3proxy does not check; left out`);
      return;
    }
    secret = `${type}:${rest.slice(3)}`;
  }
  // `users: { file: PATH }` is the YAML form of a users file, so the map cannot hold this name.
  if (name === 'file') st.fail('a user named "file" cannot be written in YAML users: ({ file: PATH } names a users file); put this user in a users file listed under usersFiles:');
  st.users.set(name, st.sourced(secret));
}

/** `users` entries; whole-argument `$file`s stay file references (`usersFiles:`). */
export function users(st: ConvertState, args: readonly string[], files: readonly string[]): void {
  for (const f of files) st.push('usersFiles', f);
  for (const entry of args.slice(1)) userEntry(st, entry);
}

/** `nserver IP[:port][/tcp]`, at most 5 (MAXNSERVERS). */
export function nserver(st: ConvertState, args: readonly string[]): void {
  const raw = args[1] ?? '';
  const slash = raw.indexOf('/');
  const tcp = slash >= 0 && raw.slice(slash + 1).includes('tcp');
  const hostPort = slash >= 0 ? raw.slice(0, slash) : raw;
  let host = hostPort;
  let port = '53';
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  if (v6 !== null) {
    host = v6[1] ?? '';
    port = v6[2] ?? port;
  } else if (isIP(hostPort) !== 6 && hostPort.includes(':')) {
    host = hostPort.slice(0, hostPort.lastIndexOf(':'));
    port = hostPort.slice(hostPort.lastIndexOf(':') + 1);
  }
  if (host === '' || !/^\d+$/.test(port)) st.fail(`Command: 'nserver' failed with code 1 (bad server "${raw}")`);
  if (st.resolver.servers.length >= 5) {
    st.warn('PRXWRN004', `nserver ${raw}: 3proxy uses at most 5 name servers; this one is ignored`);
    return;
  }
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  st.resolver.servers.push(st.sourced(`${shown}:${port}${tcp ? '/tcp' : ''}`));
}

export function nscache(st: ConvertState, args: readonly string[]): void {
  const n = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (n < 256) st.fail(`Invalid NS cache size: ${n} (at least 256)`);
  if (args[0] === 'nscache6') st.resolver.cacheSize6 = st.sourced(n);
  else st.resolver.cacheSize = st.sourced(n);
}

export function nsrecord(st: ConvertState, args: readonly string[]): void {
  const ip = args[2] ?? '';
  if (isIP(ip) === 0) st.fail(`Command: 'nsrecord' failed with code 1 ("${ip}" is not an IP address)`);
  st.resolver.hosts.set(args[1] ?? '', st.sourced(ip));
}

export function fakeresolve(st: ConvertState): void {
  st.resolver.fakeResolve = st.sourced(true);
}

export function authnserver(st: ConvertState, args: readonly string[]): void {
  st.resolver.authServer = st.sourced(args[1] ?? '');
}

const TIMEOUT_NAMES = ['byteShort', 'byteLong', 'stringShort', 'stringLong', 'connectionShort', 'connectionLong', 'dns', 'chain', 'connect', 'connectBack', 'linger'];

/** `timeouts V1 ... V11`: sets the first N of 3proxy's 11 timeouts, in seconds. */
export function timeouts(st: ConvertState, args: readonly string[]): void {
  const prev = (st.scalars.get('timeouts')?.value ?? {}) as Record<string, string>;
  const next: Record<string, string> = { ...prev };
  args.slice(1, 1 + TIMEOUT_NAMES.length).forEach((v, i) => {
    const n = Number(/^-?\d*/.exec(v)?.[0] || '0');
    if (n <= 0 || n > 2_000_000) st.fail(`Invalid timeout: ${v}`);
    next[TIMEOUT_NAMES[i] ?? ''] = `${n}s`;
  });
  if (args.length > 1 + TIMEOUT_NAMES.length) st.warn('PRXWRN004', `timeouts has ${args.length - 1} values; 3proxy reads the first 11`);
  st.set('timeouts', next);
}

export function parentretries(st: ConvertState, args: readonly string[]): void {
  const n = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (n > 0) st.set('parentRetries', n);
  else st.warn('PRXWRN004', `parentretries "${args[1] ?? ''}" is ignored by 3proxy (must be positive)`);
}

export function filtermaxsize(st: ConvertState, args: readonly string[]): void {
  st.set('filterMaxSize', sizeString(intArg(st, args[1], 'filtermaxsize')));
}

export function delimchar(st: ConvertState, args: readonly string[]): void {
  st.set('delimChar', (args[1] ?? '@').charAt(0));
}

export function force(st: ConvertState, args: readonly string[]): void {
  st.set('reloadReauth', args[0] === 'force');
}

/** pidfile, config, setuid, setgid: one value each. */
export function single(st: ConvertState, args: readonly string[]): void {
  const cmd = args[0] ?? '';
  const v = args[1] ?? '';
  if (cmd === 'setuid' || cmd === 'setgid') {
    // 3proxy refuses root (and names it cannot resolve read as 0).
    if (v === '0') st.fail(`Unable to set ${cmd === 'setuid' ? 'uid' : 'gid'} 0`);
    st.set(cmd, /^\d+$/.test(v) ? Number(v) : v);
    return;
  }
  st.set(cmd === 'config' ? 'configPath' : 'pidfile', v);
}

export function monitor(st: ConvertState, args: readonly string[]): void {
  st.push('monitor', args[1] ?? '');
}

/**
 * `plugin LIB ENTRY args...`. A 3proxy plugin that rx3proxy ships a port of (PCREPlugin's
 * pcre_plugin -> regex-filter) becomes its `plugins:` entry; the TLS plugin is built in (`tls:`).
 * Other libraries are native code: kept as an entry that will not load, with a warning.
 */
export function plugin(st: ConvertState, args: readonly string[]): void {
  const lib = args[1] ?? '';
  const entry = args[2] ?? '';
  if (entry === 'ssl_plugin') {
    st.warn('PRXWRN004', 'plugin ssl_plugin: nothing to load (the tls: listener block is built in; ssl_* commands are reported where they appear)');
    return;
  }
  const port = pluginForEntry(st, entry);
  if (port !== undefined) {
    usePlugin(st, port);
    return;
  }
  st.plugins.push(lib);
  st.push('plugins', { module: lib, options: { legacyEntry: entry, args: args.slice(3) } });
  st.warn('PRXWRN007', `plugin ${lib} is a native 3proxy library; rx3proxy loads JavaScript plugins, so this needs an rx3proxy port of "${entry}"`);
}

/** `chroot DIR [UID [GID]]`: not done; the uid/gid part still drops privileges. */
export function chroot(st: ConvertState, args: readonly string[]): void {
  st.warn('PRXWRN004', `chroot ${args[1] ?? ''}: rx3proxy does not chroot (use a container or systemd RootDirectory=); later paths are NOT relative to the jail`);
  if (args[2] !== undefined) single(st, ['setuid', args[2]]);
  if (args[3] !== undefined) single(st, ['setgid', args[3]]);
}
