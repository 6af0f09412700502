/**
 * Loading the config's `plugins:` entries (avvio-style: in order, each setup with a timeout).
 *
 *   for each entry:
 *     resolve the module (path relative to the config file, a shipped plugin's name such as
 *     `traffic-report`, or a package name) -> require()
 *     check its shape, name clash, dependencies, options against its schema
 *     setup(api, options) racing the timeout -> commit its contributions
 *     any failure -> the error names the plugin; `optional: true` only logs a warning
 *
 * Modules are loaded with require(): CommonJS (.js/.cjs, or compiled TypeScript). An ES module
 * plugin needs a dynamic import(), which jest cannot run without --experimental-vm-modules;
 * such a plugin gets a PRX_ERR_PLUGIN_LOAD that says so (wrap it in a CommonJS file meanwhile).
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from './logger';
import type { Registries } from './builtins';
import { ProxyError, proxyError, proxyErrorFrom } from './errors';
import { compileSchema } from '../config/validate';
import { parseDuration } from '../config/units';
import type { PluginDef } from './plugin-api';
import { PluginHost, PluginStage } from './plugin-host';

/** One `plugins:` entry (schemas/sections.ts). */
export interface PluginEntry {
  readonly module: string;
  readonly options?: Record<string, unknown>;
  readonly optional?: boolean;
  /** Setup timeout, a duration (default 10s). */
  readonly timeout?: string | number;
}

export const DEFAULT_PLUGIN_TIMEOUT_MS = 10_000;

/** `plugins/<name>` next to core/ (sources under jest, dist/ when built). */
function shippedPlugin(spec: string): string | null {
  if (!/^[a-z0-9-]+$/.test(spec)) return null;
  try {
    return require.resolve(join(__dirname, '..', 'plugins', spec));
  } catch {
    return null;
  }
}

/** A path (relative to the config), a shipped plugin's bare name, or a package name. */
function resolveModule(spec: string, baseDir: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return resolve(baseDir, spec);
  return shippedPlugin(spec) ?? require.resolve(spec, { paths: [baseDir, process.cwd()] });
}

/** require()s the module and checks that it exports a plugin definition. */
function importPlugin(entry: PluginEntry, baseDir: string): PluginDef<never> {
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(resolveModule(entry.module, baseDir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ERR_REQUIRE_ESM' ? 'ES module plugins are not supported yet (ship CommonJS)' : (err as Error).message;
    throw proxyErrorFrom('PRX_ERR_PLUGIN_LOAD', err, entry.module, why);
  }
  const m = mod as { default?: unknown } | null;
  const def = (m !== null && typeof m === 'object' && 'default' in m ? m.default : m) as Partial<PluginDef<never>> | null;
  if (def === null || typeof def !== 'object' || typeof def.name !== 'string' || def.name === '' || typeof def.setup !== 'function') {
    throw proxyError('PRX_ERR_PLUGIN_INVALID', entry.module, 'the module must export definePlugin({ name, setup })');
  }
  return def as PluginDef<never>;
}

/** The entry's options, validated against the plugin's schema with defaults applied. */
function pluginOptions(def: PluginDef<never>, entry: PluginEntry): Record<string, unknown> {
  const options = structuredClone(entry.options ?? {});
  if (def.schema === undefined) return options;
  let validate;
  try {
    validate = compileSchema(def.schema);
  } catch (err) {
    throw proxyErrorFrom('PRX_ERR_PLUGIN_INVALID', err, def.name, `bad options schema: ${(err as Error).message}`);
  }
  if (!validate(options)) {
    const why = (validate.errors ?? []).map((e) => `options${e.instancePath} ${e.message ?? 'is invalid'}`).join('; ');
    throw proxyError('PRX_ERR_PLUGIN_INVALID', def.name, why);
  }
  return options;
}

/** Runs setup; rejects with PRX_ERR_PLUGIN_TIMEOUT when it does not settle in `ms`. */
async function runSetup(def: PluginDef<never>, stage: PluginStage, options: unknown, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(proxyError('PRX_ERR_PLUGIN_TIMEOUT', def.name, ms)), ms);
  });
  try {
    await Promise.race([(async () => def.setup(stage.api, options as never))(), timeout]);
  } catch (err) {
    throw setupFailure(def, err);
  } finally {
    clearTimeout(timer);
    stage.close();
  }
}

/** What a setup failure becomes: loader errors pass, others are PRX_ERR_PLUGIN_LOAD naming the plugin. */
function setupFailure(def: PluginDef<never>, err: unknown): ProxyError {
  if (err instanceof ProxyError && (err.code === 'PRX_ERR_PLUGIN_TIMEOUT' || err.code === 'PRX_ERR_PLUGIN_INVALID')) return err;
  // A clash keeps its code but says which plugin tried to take the name.
  if (err instanceof ProxyError && err.code === 'PRX_ERR_DUPLICATE_NAME') return new ProxyError(err.code, `plugin "${def.name}": ${err.message}`);
  return proxyErrorFrom('PRX_ERR_PLUGIN_LOAD', err, def.name, err instanceof Error ? err.message : String(err));
}

/** Synchronous setup (Runtime.fromFile): a setup returning a promise is refused, not awaited. */
function runSetupSync(def: PluginDef<never>, stage: PluginStage, options: unknown): void {
  let result: unknown;
  try {
    result = def.setup(stage.api, options as never);
  } catch (err) {
    throw setupFailure(def, err);
  } finally {
    stage.close();
  }
  if (result !== null && typeof result === 'object' && typeof (result as Promise<void>).then === 'function') {
    (result as Promise<void>).catch(() => undefined);
    throw proxyError('PRX_ERR_PLUGIN_LOAD', def.name, 'its setup is asynchronous: load the config with Runtime.load / Runtime.loadFile');
  }
}

interface Prepared {
  readonly def: PluginDef<never>;
  readonly options: Record<string, unknown>;
  readonly stage: PluginStage;
}

/** Everything before setup: import, name clash, dependencies, options. */
function prepare(entry: PluginEntry, baseDir: string, reg: Registries, host: PluginHost, logger: Logger): Prepared {
  const def = importPlugin(entry, baseDir);
  if (host.has(def.name)) throw proxyError('PRX_ERR_DUPLICATE_NAME', 'plugin', def.name);
  for (const dep of def.dependencies ?? []) {
    if (!host.has(dep)) throw proxyError('PRX_ERR_PLUGIN_DEPENDENCY', def.name, dep);
  }
  return { def, options: pluginOptions(def, entry), stage: new PluginStage(def, reg, host, logger, baseDir) };
}

function loaded(p: Prepared, logger: Logger): void {
  p.stage.commit();
  logger.debug({ plugin: p.def.name, version: p.def.version }, 'plugin loaded');
}

function skipOptional(entry: PluginEntry, err: unknown, logger: Logger): void {
  if (entry.optional !== true) throw err;
  logger.warn({ err, module: entry.module }, 'optional plugin not loaded');
}

/**
 * Loads the entries in order into `reg` (operators, auth methods) and a new PluginHost.
 * @param configFile the config's path; relative module paths start from its directory.
 */
export async function loadPlugins(entries: readonly PluginEntry[], configFile: string, reg: Registries, logger: Logger): Promise<PluginHost> {
  const host = new PluginHost();
  const baseDir = dirname(resolve(configFile));
  for (const entry of entries) {
    try {
      const p = prepare(entry, baseDir, reg, host, logger);
      await runSetup(p.def, p.stage, p.options, entry.timeout === undefined ? DEFAULT_PLUGIN_TIMEOUT_MS : parseDuration(entry.timeout));
      loaded(p, logger);
    } catch (err) {
      skipOptional(entry, err, logger);
    }
  }
  return host;
}

/**
 * Same, for synchronous callers (Runtime.fromFile/fromText): every setup must be synchronous;
 * one that returns a promise is a PRX_ERR_PLUGIN_LOAD asking for the async loader.
 */
export function loadPluginsSync(entries: readonly PluginEntry[], configFile: string, reg: Registries, logger: Logger): PluginHost {
  const host = new PluginHost();
  const baseDir = dirname(resolve(configFile));
  for (const entry of entries) {
    try {
      const p = prepare(entry, baseDir, reg, host, logger);
      runSetupSync(p.def, p.stage, p.options);
      loaded(p, logger);
    } catch (err) {
      skipOptional(entry, err, logger);
    }
  }
  return host;
}

/** The `plugins:` entries of an unvalidated config value ([] when absent or malformed). */
export function pluginEntries(value: unknown): PluginEntry[] {
  const list = (value as { plugins?: unknown } | null)?.plugins;
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is PluginEntry => typeof (e as PluginEntry | null)?.module === 'string');
}
