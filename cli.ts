#!/usr/bin/env node
/**
 * rx3proxy command line (CONFIG.md "Command line"):
 *   rx3proxy [CONFIG] | run [CONFIG]     run (default: the embedded config/default.yaml)
 *   rx3proxy validate CONFIG             exit 0, or 1 with FILE:LINE:COL: /pointer: message lines
 *   rx3proxy convert 3proxy.cfg [-o F]   legacy config to YAML
 *   rx3proxy schema                      the config JSON Schema
 *   rx3proxy hash [--type T]             hash a password read from stdin (3proxy_crypt)
 *   rx3proxy ca [--cert F --key F]       create a CA certificate and key for MITM
 * Exit codes: 0 ok, 1 invalid config or failed start, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { chownSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { formatProblem, ProxyError, toProxyError } from './core/errors';
import { Runtime, DEFAULT_CONFIG_PATH, schemaFor } from './core/runtime';
import { Supervisor } from './core/reload';
import { builtinRegistries } from './core/builtins';
import { loadPlugins, pluginEntries } from './core/plugin-loader';
import type { PluginHost } from './core/plugin-host';
import { packageRoot } from './core/paths';
import { join } from 'node:path';
import { parseConfigText, validateValue, converter } from './config/load';
import { silentLogger } from './core/logger';
import { configWarnings } from './operators/authenticate/warnings';
import { parseDuration, parseSize } from './config/units';
import { disablePretenuring } from './core/v8-tuning';
import { retainFreedMemory, DEFAULT_MALLOC_TRIM_THRESHOLD, MAX_MALLOC_TRIM_THRESHOLD, MIN_MALLOC_TRIM_THRESHOLD } from './core/malloc';
import { hashPassword, type HashType } from './core/users';
import { caCommand, type CaCommandOptions } from './core/mitm/ca-command';

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function printProblems(err: unknown): number {
  const e = toProxyError(err);
  if (e.errors.length > 0) for (const p of e.errors) process.stderr.write(formatProblem(p) + '\n');
  else process.stderr.write(`rx3proxy: ${e.message}\n`);
  return EXIT_INVALID;
}

async function run(file: string | undefined, opts: { portFile?: string }): Promise<number> {
  // Process-wide, before any traffic: a burst of long-lived connections on a cold process must
  // not pretenure the per-request allocation sites for good (core/v8-tuning.ts).
  disablePretenuring();
  const path = file ?? DEFAULT_CONFIG_PATH();
  const portFile = opts.portFile ?? process.env['RX3PROXY_PORT_FILE'];
  const writePorts = (rt: Runtime): void => {
    if (portFile === undefined || portFile === '') return;
    try {
      writeFileSync(portFile, JSON.stringify(rt.ports()) + '\n');
    } catch (err) {
      // Called inside a reload's swap: a port file made unwritable (privilege drop) must not break the reload.
      rt.logger.error({ err, portFile }, 'cannot write the port file');
    }
  };
  let sup: Supervisor;
  try {
    sup = await Supervisor.load(path, { onApplied: writePorts });
  } catch (err) {
    return printProblems(err);
  }
  for (const w of sup.runtime.loaded.warnings) process.stderr.write(`warning: ${w}\n`);
  // Process-wide, once, before any traffic (core/malloc.ts says why).
  const trim = sup.runtime.env.config['mallocTrimThreshold'] as string | number | undefined;
  const trimBytes = trim === undefined ? DEFAULT_MALLOC_TRIM_THRESHOLD : parseSize(trim);
  if (trimBytes > MAX_MALLOC_TRIM_THRESHOLD || (trimBytes > 0 && trimBytes < MIN_MALLOC_TRIM_THRESHOLD)) {
    process.stderr.write(`warning: mallocTrimThreshold ${String(trim)} is outside 1MB..64MB: ${trimBytes > 0 && trimBytes < MIN_MALLOC_TRIM_THRESHOLD ? "glibc's default is kept" : '64MB is used'}\n`);
  }
  retainFreedMemory(trimBytes);
  // Signal handlers go in before anything announces readiness: a SIGHUP sent by whoever reads
  // the port file or the pidfile must never meet the default action (terminate).
  let started = false;
  let stopping = false;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const stop = (signal: string): void => {
    if (stopping) {
      sup.logger.warn({ signal }, 'second signal: closing everything now');
      sup.kill();
      finish(EXIT_OK);
      return;
    }
    stopping = true;
    const grace = parseDuration((sup.runtime.env.config['shutdownTimeout'] as string | undefined) ?? '10s');
    sup.logger.info({ signal, graceMs: grace, live: sup.liveConnections() }, 'stopping');
    sup.stop(grace).then(
      () => finish(EXIT_OK),
      (err: unknown) => {
        sup.logger.error({ err }, 'error while stopping');
        finish(EXIT_INVALID);
      },
    );
  };
  // Reload: a bad config is logged (FILE:LINE:COL) and the running one kept; storms coalesce.
  let reloadPending = false;
  const reload = (signal: string): void => {
    if (stopping) return;
    if (started) void sup.reload(signal);
    else reloadPending = true; // applied once the start completes
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR2', () => sup.reopenLogs());
  process.on('SIGHUP', () => reload('SIGHUP'));
  process.on('SIGUSR1', () => reload('SIGUSR1'));
  try {
    await sup.start();
  } catch (err) {
    sup.logger.fatal({ err }, 'failed to start');
    return printProblems(err);
  }
  writePorts(sup.runtime);
  // Written once every service listens, so "pidfile exists" means "ready" (3proxy writes it at start).
  const pidfile = sup.runtime.env.config['pidfile'] as string | undefined;
  if (pidfile !== undefined) writeFileSync(pidfile, `${process.pid}\n`);
  // After binding (privileged ports need root) and before serving anyone under the old identity.
  try {
    dropPrivileges(sup.runtime.env.config, portFile);
  } catch (err) {
    const reason = (err as Error).message;
    sup.logger.fatal({ reason }, 'cannot drop privileges');
    process.stderr.write(`rx3proxy: cannot drop privileges: ${reason}\n`);
    await sup.stop(0);
    if (pidfile !== undefined) removeQuietly(pidfile);
    return EXIT_INVALID;
  }
  started = true;
  sup.logger.info({ config: path, services: sup.runtime.ports(), pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() }, 'rx3proxy running');
  if (reloadPending) void sup.reload('signal during start');
  const code = await done;
  if (pidfile !== undefined) removeQuietly(pidfile);
  return code;
}

/** After a privilege drop the pidfile's directory may no longer be ours; a stale pidfile is not worth a failure. */
function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // EACCES: left for the service manager (systemd removes its PIDFile).
  }
}

/**
 * 3proxy setgid/setuid: group first (a process that already gave up root can no longer change
 * its group), supplementary groups replaced (root's would otherwise survive), then the user.
 * Root as the target is refused, as in 3proxy: "dropping" to it would silently keep everything.
 */
function dropPrivileges(cfg: Readonly<Record<string, unknown>>, portFile: string | undefined): void {
  const user = cfg['setuid'] as string | number | undefined;
  const group = cfg['setgid'] as string | number | undefined;
  if (user === undefined && group === undefined) return;
  if (process.setuid === undefined || process.setgid === undefined || process.setgroups === undefined) throw new Error('setuid/setgid are not supported on this platform');
  const isRoot = (v: string | number): boolean => v === 0 || v === '0' || v === 'root';
  if (user !== undefined && isRoot(user)) throw new Error('setuid: refusing to run as root');
  if (group !== undefined && isRoot(group)) throw new Error('setgid: refusing to run as group root');
  const asId = (v: string | number): string | number => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);
  // The port file is rewritten on every reload: it must stay writable by the new identity.
  const chownTarget = (uid: number, gid: number): void => {
    if (portFile !== undefined && portFile !== '') {
      try {
        chownSync(portFile, uid, gid);
      } catch {
        // not ours to change (an existing file on a read-only or foreign mount): reloads log the failure
      }
    }
  };
  if (group !== undefined) {
    const gid = asId(group);
    try {
      process.setgid(gid);
      process.setgroups([process.getgid?.() ?? gid]);
    } catch (err) {
      throw new Error(`setgid ${String(group)}: ${errText(err)}`, { cause: err });
    }
  }
  if (user !== undefined) {
    const uid = asId(user);
    try {
      if (group === undefined) process.setgroups([process.getgid?.() ?? 0]);
      chownTarget(typeof uid === 'number' ? uid : uidOf(uid), process.getgid?.() ?? -1);
      process.setuid(uid);
    } catch (err) {
      throw new Error(`setuid ${String(user)}: ${errText(err)}`, { cause: err });
    }
  } else {
    chownTarget(-1, process.getgid?.() ?? -1);
  }
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ERR_UNKNOWN_CREDENTIAL') return 'no such user or group';
  if (e.code === 'EPERM') return 'operation not permitted (rx3proxy must start as root to change its identity)';
  return e.message;
}

/** /etc/passwd lookup for chown (process.setuid resolves names itself, chown does not). */
function uidOf(name: string): number {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f[2] !== undefined) return Number(f[2]);
    }
  } catch {
    // NSS-only accounts: the port file keeps its owner
  }
  return -1;
}

/** Loads a config's `plugins:` into `reg` (for validate and schema); null after printing the failure. */
async function pluginsOf(text: string, file: string, reg: ReturnType<typeof builtinRegistries>): Promise<PluginHost | null> {
  try {
    return await loadPlugins(pluginEntries(parseConfigText(text, file).value), file, reg, silent());
  } catch (err) {
    process.stdout.write(`${file}:1:1: /plugins: ${toProxyError(err).message}\n`);
    return null;
  }
}

async function validate(file: string): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`rx3proxy: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return EXIT_INVALID;
  }
  const reg = builtinRegistries();
  const parsed = parseConfigText(text, file);
  for (const w of parsed.warnings) process.stderr.write(`warning: ${w}\n`);
  // Plugins first: their commands and operators are part of the schema.
  const plugins = parsed.problems.length > 0 ? undefined : await pluginsOf(text, file, reg);
  if (plugins === null) return EXIT_INVALID;
  const problems = parsed.problems.length > 0 ? parsed.problems : validateValue(parsed.value, file, schemaFor(reg, plugins), parsed.source);
  if (problems.length > 0) {
    for (const p of problems) process.stdout.write(formatProblem(p) + '\n');
    return EXIT_INVALID;
  }
  // Compile the services too (ACL tokens, pipelines) without listening.
  try {
    await Runtime.load(text, file, { logger: silent(), dryRun: true });
  } catch (err) {
    const e = toProxyError(err);
    for (const p of e.errors) process.stdout.write(formatProblem(p) + '\n');
    if (e.errors.length === 0) process.stdout.write(`${file}:1:1: /: ${e.message}\n`);
    return EXIT_INVALID;
  }
  // Probable mistakes (3proxy pitfalls): reported, but the config stays valid.
  for (const w of configWarnings(parsed.value as Record<string, unknown>)) process.stderr.write(`${file}: ${w.pointer}: ${w.code}: ${w.message}\n`);
  process.stdout.write(`${file}: ok\n`);
  return EXIT_OK;
}

function silent(): Runtime['logger'] {
  return silentLogger();
}

function convert(file: string, opts: { output?: string }): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`rx3proxy: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return EXIT_INVALID;
  }
  // The converter hands readFile paths already resolved against the config's directory.
  const r = converter().convertLegacy(text, file, { readFile: (p: string) => readFileSync(p, 'utf8') });
  for (const d of [...r.warnings, ...r.errors]) process.stderr.write(`${d.file}:${d.line}: ${d.code !== undefined ? d.code + ': ' : ''}${d.message}\n`);
  if (opts.output !== undefined) writeFileSync(opts.output, r.yaml);
  else process.stdout.write(r.yaml);
  return r.errors.length > 0 ? EXIT_INVALID : EXIT_OK;
}

export async function main(argv: readonly string[]): Promise<number> {
  let code: number | Promise<number> = EXIT_OK;
  const program = new Command()
    .name('rx3proxy')
    .description('3proxy re-thought in TypeScript: HTTP, SOCKS and port-mapping proxy configured in YAML')
    .version(version(), '-v, --version')
    .argument('[config]', 'config file (.yaml, .json, or a 3proxy .cfg); default: the embedded config')
    .option('--port-file <file>', 'write {"service": port} JSON once all services listen (env RX3PROXY_PORT_FILE)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .action((config: string | undefined, opts: { portFile?: string }) => {
      code = run(config, opts);
    });
  program
    .command('run')
    .description('run a config (default: the embedded config)')
    .argument('[config]', 'config file')
    .option('--port-file <file>', 'write {"service": port} JSON once all services listen')
    .action((config: string | undefined, opts: { portFile?: string }) => {
      code = run(config, opts);
    });
  program
    .command('validate')
    .description('check a config: exit 0 if valid, else 1 with FILE:LINE:COL: /pointer: message lines')
    .argument('<config>', 'config file')
    .action((config: string) => {
      code = validate(config);
    });
  program
    .command('convert')
    .description('convert a legacy 3proxy.cfg to YAML (warnings on stderr)')
    .argument('<cfg>', '3proxy config file')
    .option('-o, --output <file>', 'write the YAML here instead of stdout')
    .action((cfg: string, opts: { output?: string }) => {
      code = convert(cfg, opts);
    });
  program
    .command('hash')
    .description('print a users: hash for a password read from stdin (3proxy_crypt)')
    .option('--type <type>', 'cr | md5 | nt | bcrypt | sha256 | sha512', 'cr')
    .option('--salt <salt>', 'salt to use instead of a random one (3proxy_crypt SALT PASSWORD)')
    .action((opts: { type: string; salt?: string }) => {
      code = hashCommand(opts.type, opts.salt);
    });
  program
    .command('ca')
    .description('create a CA certificate and key for MITM (mitm.ca); read the warning it prints')
    .option('--cert <file>', 'certificate file to write', 'mitm-ca.pem')
    .option('--key <file>', 'private key file to write (mode 0600)', 'mitm-ca.key')
    .option('--name <cn>', 'common name of the CA', 'rx3proxy MITM CA')
    .option('--days <n>', 'validity in days (1-3650)', '825')
    .option('--force', 'replace existing files')
    .action(async (opts: CaCommandOptions) => {
      code = await caCommand(opts, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    });
  program
    .command('schema')
    .description('print the JSON Schema of the config (with the plugins of CONFIG, when given)')
    .argument('[config]', 'config whose plugins extend the schema')
    .action(async (config: string | undefined) => {
      const reg = builtinRegistries();
      const plugins = config === undefined ? undefined : await pluginsOf(readFileSync(config, 'utf8'), config, reg);
      if (plugins === null) code = EXIT_INVALID;
      else process.stdout.write(JSON.stringify(schemaFor(reg, plugins), null, 2) + '\n');
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (err instanceof ProxyError) return printProblems(err);
    throw err;
  }
  return code;
}

const HASH_TYPES: readonly HashType[] = ['cr', 'md5', 'nt', 'bcrypt', 'sha256', 'sha512'];

/** `rx3proxy hash`: the password is the first line of stdin (a trailing newline is not part of it). */
function hashCommand(type: string, salt: string | undefined): number {
  if (!(HASH_TYPES as readonly string[]).includes(type)) {
    process.stderr.write(`rx3proxy: unknown hash type "${type}" (${HASH_TYPES.join(', ')})\n`);
    return EXIT_USAGE;
  }
  const password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  try {
    process.stdout.write(hashPassword(type as HashType, password, salt) + '\n');
  } catch (err) {
    process.stderr.write(`rx3proxy: ${toProxyError(err).message}\n`);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`rx3proxy: ${String(err)}\n`);
      process.exit(EXIT_INVALID);
    },
  );
}
