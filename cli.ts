#!/usr/bin/env node
/**
 * rx3proxy command line (CONFIG.md "Command line"):
 *   rx3proxy [CONFIG] | run [CONFIG]     run (default: the embedded config/default.yaml)
 *   rx3proxy validate CONFIG             exit 0, or 1 with FILE:LINE:COL: /pointer: message lines
 *   rx3proxy convert 3proxy.cfg [-o F]   legacy config to YAML
 *   rx3proxy schema                      the config JSON Schema
 *   rx3proxy hash [--type T]             hash a password read from stdin (3proxy_crypt)
 * Exit codes: 0 ok, 1 invalid config or failed start, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { formatProblem, ProxyError, toProxyError } from './core/errors';
import { Runtime, DEFAULT_CONFIG_PATH, schemaFor } from './core/runtime';
import { builtinRegistries } from './core/builtins';
import { packageRoot } from './core/paths';
import { join } from 'node:path';
import { parseConfigText, validateValue } from './config/load';
import { parseDuration } from './config/units';

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
  const path = file ?? DEFAULT_CONFIG_PATH();
  let rt: Runtime;
  try {
    rt = Runtime.fromFile(path);
  } catch (err) {
    return printProblems(err);
  }
  for (const w of rt.loaded.warnings) process.stderr.write(`warning: ${w}\n`);
  try {
    await rt.start();
  } catch (err) {
    rt.logger.fatal({ err }, 'failed to start');
    return printProblems(err);
  }
  const portFile = opts.portFile ?? process.env['RX3PROXY_PORT_FILE'];
  if (portFile !== undefined && portFile !== '') writeFileSync(portFile, JSON.stringify(rt.ports()) + '\n');
  rt.logger.info({ config: path, services: rt.ports() }, 'rx3proxy running');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        rt.logger.warn({ signal }, 'second signal: closing everything now');
        rt.kill();
        resolve(EXIT_OK);
        return;
      }
      stopping = true;
      const grace = parseDuration((rt.env.config['shutdownTimeout'] as string | undefined) ?? '10s');
      rt.logger.info({ signal, graceMs: grace, live: rt.liveConnections() }, 'stopping');
      rt.stop(grace).then(
        () => resolve(EXIT_OK),
        (err: unknown) => {
          rt.logger.error({ err }, 'error while stopping');
          resolve(EXIT_INVALID);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGUSR2', () => rt.reopenLogs());
    // Reload lands with the operations issue; until then the signal must not kill the process.
    const reload = (signal: string): void => rt.logger.warn({ signal }, 'reload requested: not supported yet, restart to apply changes');
    process.on('SIGHUP', () => reload('SIGHUP'));
    process.on('SIGUSR1', () => reload('SIGUSR1'));
  });
}

function validate(file: string): number {
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
  const problems = parsed.problems.length > 0 ? parsed.problems : validateValue(parsed.value, file, schemaFor(reg), parsed.source);
  if (problems.length > 0) {
    for (const p of problems) process.stdout.write(formatProblem(p) + '\n');
    return EXIT_INVALID;
  }
  // Compile the services too (ACL tokens, pipelines) without listening.
  try {
    Runtime.fromText(text, file, { logger: silent() });
  } catch (err) {
    const e = toProxyError(err);
    for (const p of e.errors) process.stdout.write(formatProblem(p) + '\n');
    if (e.errors.length === 0) process.stdout.write(`${file}:1:1: /: ${e.message}\n`);
    return EXIT_INVALID;
  }
  process.stdout.write(`${file}: ok\n`);
  return EXIT_OK;
}

function silent(): Runtime['logger'] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./core/logger') as typeof import('./core/logger')).silentLogger();
}

function convert(file: string, opts: { output?: string }): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`rx3proxy: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return EXIT_INVALID;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { convertLegacy } = require('./config/convert') as typeof import('./config/convert');
  const r = convertLegacy(text, file, { readFile: (p: string) => readFileSync(join(file, '..', p), 'utf8') });
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
    .command('schema')
    .description('print the JSON Schema of the config')
    .action(() => {
      process.stdout.write(JSON.stringify(schemaFor(builtinRegistries()), null, 2) + '\n');
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

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`rx3proxy: ${String(err)}\n`);
      process.exit(EXIT_INVALID);
    },
  );
}
