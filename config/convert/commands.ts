/**
 * The command table: every 3proxy config command, its argument counts (conf.c
 * `commandhandlers`: min/max including the command itself, max 0 = unlimited) and its
 * translator. A line whose name is not here, or whose argument count does not fit, is
 * 3proxy's "Unknown command". `end`, `writable` and `include` are handled by the reader.
 */
import * as acl from './acl-commands';
import * as g from './global-commands';
import * as limits from './limit-commands';
import * as logs from './log-commands';
import * as pending from './pending-commands';
import { mitmCommand } from './mitm-commands';
import { service } from './service';
import type { ConvertState } from './state';
import { runPluginCommand } from './plugin-commands';

/** Extra facts a translator may need beyond the expanded arguments. */
export interface CommandContext {
  /** Whole-argument `$file` includes, kept as references (only for `keepFiles` commands). */
  readonly files: readonly string[];
}

export interface LegacyCommand {
  readonly min: number;
  readonly max: number;
  readonly run: (st: ConvertState, args: readonly string[], ctx: CommandContext) => void;
  /** `users $file` keeps the file as a reference instead of reading it now. */
  readonly keepFiles?: boolean;
  /** Known only after a `plugin` line whose library name matches (plugin-provided commands). */
  readonly plugin?: RegExp;
}

const cmd = (min: number, max: number, run: LegacyCommand['run'], extra?: Partial<LegacyCommand>): LegacyCommand => ({ min, max, run, ...extra });

/** Accepted, translated to nothing, reported with the reason. */
const noEffect = (min: number, max: number, reason: (args: readonly string[]) => string): LegacyCommand =>
  cmd(min, max, (st, args) => st.warn('PRXWRN004', `${args[0] ?? ''}: ${reason(args)}`));

const SERVICE = cmd(1, 0, service);
const PORTMAP = cmd(4, 0, service);
const TLS = (min: number, max: number): LegacyCommand => cmd(min, max, pending.tlsCommand);
const MITM = (min: number, max: number): LegacyCommand => cmd(min, max, mitmCommand);
/** Origin verification settings: 3proxy's ssl_cli (upstreamTls, parents) and ssl_mitm read the same ones. */
const TLS_AND_MITM = (min: number, max: number): LegacyCommand =>
  cmd(min, max, (st, args) => {
    pending.tlsCommand(st, args);
    mitmCommand(st, args);
  });
/** Translated by the shipped plugin that owns the command (plugin-commands.ts). */
const PLUGIN_COMMAND = (min: number): LegacyCommand => cmd(min, 0, runPluginCommand);

export const COMMANDS: Readonly<Record<string, LegacyCommand>> = {
  proxy: SERVICE,
  socks: SERVICE,
  pop3p: SERVICE,
  smtpp: SERVICE,
  imapp: SERVICE,
  ftppr: SERVICE,
  admin: SERVICE,
  dnspr: SERVICE,
  auto: SERVICE,
  tlspr: SERVICE,
  tcppm: PORTMAP,
  udppm: PORTMAP,
  internal: cmd(2, 2, pending.internal),
  external: cmd(2, 2, pending.external),
  maxconn: cmd(2, 2, pending.maxconn),
  backlog: cmd(2, 2, pending.backlog),
  auth: cmd(2, 0, pending.auth),
  authcache: cmd(2, 4, pending.authcache),
  allow: cmd(1, 0, acl.allow),
  deny: cmd(1, 0, acl.deny),
  redirect: cmd(3, 0, acl.redirect),
  parent: cmd(5, 0, acl.parent),
  nolog: cmd(1, 1, acl.nolog),
  weight: cmd(2, 2, acl.nolog),
  flush: cmd(1, 1, acl.flush),
  log: cmd(1, 0, logs.log),
  logformat: cmd(2, 2, logs.logformat),
  rotate: cmd(2, 2, logs.rotate),
  archiver: cmd(3, 0, logs.archiver),
  logdump: cmd(2, 3, logs.logdump),
  users: cmd(1, 0, (st, args, ctx) => g.users(st, args, ctx.files), { keepFiles: true }),
  nserver: cmd(2, 2, g.nserver),
  nscache: cmd(2, 2, g.nscache),
  nscache6: cmd(2, 2, g.nscache),
  nsrecord: cmd(3, 3, g.nsrecord),
  fakeresolve: cmd(1, 1, g.fakeresolve),
  authnserver: cmd(2, 2, g.authnserver),
  timeouts: cmd(2, 0, g.timeouts),
  parentretries: cmd(2, 2, g.parentretries),
  filtermaxsize: cmd(2, 2, g.filtermaxsize),
  delimchar: cmd(2, 2, g.delimchar),
  force: cmd(1, 1, g.force),
  noforce: cmd(1, 1, g.force),
  pidfile: cmd(2, 2, g.single),
  config: cmd(2, 2, g.single),
  setuid: cmd(2, 2, g.single),
  setgid: cmd(2, 2, g.single),
  monitor: cmd(2, 2, g.monitor),
  plugin: cmd(3, 0, g.plugin),
  chroot: cmd(2, 4, g.chroot),
  counter: cmd(2, 4, limits.counter),
  countin: cmd(4, 0, limits.count),
  countout: cmd(4, 0, limits.count),
  countall: cmd(4, 0, limits.count),
  nocountin: cmd(1, 0, limits.count),
  nocountout: cmd(1, 0, limits.count),
  nocountall: cmd(1, 0, limits.count),
  bandlimin: cmd(2, 0, limits.bandlim),
  bandlimout: cmd(2, 0, limits.bandlim),
  nobandlimin: cmd(1, 0, limits.bandlim),
  nobandlimout: cmd(1, 0, limits.bandlim),
  connlim: cmd(4, 0, limits.connlim),
  noconnlim: cmd(1, 0, limits.connlim),
  daemon: noEffect(1, 1, () => 'rx3proxy stays in the foreground; let the service manager (systemd, Docker) run it in the background'),
  service: noEffect(1, 1, () => 'Windows service mode is a no-op in 3proxy too'),
  stacksize: noEffect(2, 2, () => 'thread stack size has no meaning in rx3proxy (no threads)'),
  maxseg: noEffect(2, 2, () => 'TCP_MAXSEG cannot be set from Node.js'),
  system: noEffect(2, 2, (a) => `commands are not run when the config loads ("${a[1] ?? ''}")`),
  dialer: noEffect(2, 2, () => 'dial-on-demand is not supported'),
  radius: noEffect(3, 0, () => 'RADIUS servers are not supported yet; auth radius and log radius need a plugin'),
  ssl_serv: TLS(1, 1),
  ssl_server: TLS(1, 1),
  ssl_noserv: TLS(1, 1),
  ssl_noserver: TLS(1, 1),
  ssl_server_cert: TLS(1, 2),
  ssl_server_key: TLS(1, 2),
  ssl_server_ca_file: TLS(1, 2),
  ssl_server_verify: TLS(1, 1),
  ssl_server_no_verify: TLS(1, 1),
  // ssl.c: every setting but ssl_certcache takes an optional value (none unsets it).
  ...Object.fromEntries(
    [
      ['ssl_cli', 1, 1], ['ssl_client', 1, 1], ['ssl_nocli', 1, 1], ['ssl_noclient', 1, 1],
      ['ssl_client_mode', 1, 2], ['ssl_client_cert', 1, 2], ['ssl_client_key', 1, 2],
      ['ssl_server_ca_dir', 1, 2], ['ssl_server_ca_store', 1, 2], ['ssl_client_ca_dir', 1, 2],
      ['ssl_client_ca_store', 1, 2],
      ['ssl_client_ciphersuites', 1, 2], ['ssl_server_ciphersuites', 1, 2], ['ssl_client_cipher_list', 1, 2],
      ['ssl_server_cipher_list', 1, 2], ['ssl_client_min_proto_version', 1, 2], ['ssl_client_max_proto_version', 1, 2],
      ['ssl_server_min_proto_version', 1, 2], ['ssl_server_max_proto_version', 1, 2], ['ssl_client_sni', 1, 2], ['ssl_client_alpn', 1, 0],
    ].map(([name, min, max]) => [name as string, TLS(min as number, max as number)]),
  ),
  ssl_mitm: MITM(1, 1),
  ssl_nomitm: MITM(1, 1),
  ssl_server_ca_key: MITM(2, 2),
  ssl_certcache: MITM(2, 2),
  ssl_client_verify: TLS_AND_MITM(1, 1),
  ssl_client_no_verify: TLS_AND_MITM(1, 1),
  ssl_client_ca_file: TLS_AND_MITM(1, 2),
  pcre: PLUGIN_COMMAND(4),
  pcre_rewrite: PLUGIN_COMMAND(5),
  pcre_extend: PLUGIN_COMMAND(2),
  pcre_options: PLUGIN_COMMAND(2),
  transparent: { ...noEffect(1, 1, () => 'TransparentPlugin switch; handled by an rx3proxy port of the plugin'), plugin: /transparent/i },
  notransparent: { ...noEffect(1, 1, () => 'TransparentPlugin switch; handled by an rx3proxy port of the plugin'), plugin: /transparent/i },
  trafcorrect: { ...noEffect(4, 0, () => 'TrafficPlugin counter correction is not translated'), plugin: /traffic/i },
  file_cachedir: { ...noEffect(2, 2, () => 'FilePlugin setting is not translated'), plugin: /file/i },
  file_preview: { ...noEffect(2, 2, () => 'FilePlugin setting is not translated'), plugin: /file/i },
};

/** A command only a plugin's translator knows (ConvertOptions.plugins). */
const THIRD_PARTY = PLUGIN_COMMAND(1);

/** The table entry for `name`, if 3proxy (with the plugins loaded so far) or a plugin translator knows it. */
export function lookup(name: string, st: Pick<ConvertState, 'plugins' | 'pluginCommands'>): LegacyCommand | undefined {
  const loadedPlugins = st.plugins;
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, name)) return st.pluginCommands.has(name) ? THIRD_PARTY : undefined;
  const def = COMMANDS[name];
  if (def?.plugin !== undefined) {
    const re = def.plugin;
    if (!loadedPlugins.some((p) => re.test(p))) return undefined;
  }
  return def;
}
