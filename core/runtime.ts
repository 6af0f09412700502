/**
 * Runtime: 3proxy's main thread. Loads and validates a config, builds the shared Env, compiles
 * and starts every service, and stops them (gracefully, with a deadline).
 *
 *   load(file) -> registries (built-ins + plugins) -> schema -> validate -> Env
 *              -> ServiceRuntime per service (pipelines compiled) -> start all -> running
 *
 * Starting is all or nothing: if one service cannot listen, the ones already started are
 * stopped and the error names the service and address.
 */
import type { Logger } from './logger';
import { createLogger } from './logger';
import { builtinRegistries, type Registries } from './builtins';
import { buildConfigSchema } from '../schemas/build';
import type { JsonSchema } from './operator';
import { loadConfigText, parseConfigText, type LoadedConfig } from '../config/load';
import { loadPlugins, loadPluginsSync, pluginEntries } from './plugin-loader';
import { PluginHost } from './plugin-host';
import type { ServiceRuntime} from './service';
import { type ServiceConfig } from './service';
import { createServiceRuntime } from './udp-service';
import { ProxyError, proxyError, toProxyError, type ConfigProblem } from './errors';
import { systemClock, type Clock, type Env } from './env';
import type { Resolver } from './net/resolver';
import { resolverFromConfig, type ResolverConfig } from './net/dns-resolver';
import { ParentChain } from './net/chain';
import { DirectDialer, type Dialer } from './net/dialer';
import { AccessLogs } from '../operators/log/writer';
import { parseDuration } from '../config/units';
import { packageRoot } from './paths';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { UserTable, usersSection } from './users';
import { Limits, LIMITS_SYMBOL, GLOBAL_SLOTS_SYMBOL } from './limits';
import { Scheduler, type Timers } from './scheduler';
import { rotationOf } from '../operators/log/writer';
import { RUNTIME_SYMBOL } from './introspect';

export const DEFAULT_CONFIG_PATH = (): string => join(packageRoot(), 'config', 'default.yaml');

export interface RuntimeOptions {
  /** Use this logger instead of one built from the config's `log:` section. */
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly resolver?: Resolver;
  readonly dialer?: Dialer;
  /** Compile only (`rx3proxy validate`): open no access-log file, so checking a config writes nothing. */
  readonly dryRun?: boolean;
  /** Timers for the scheduler (a fake clock in tests fires them as it moves). */
  readonly timers?: Timers;
}

/** The schema for a set of registries (built-ins + whatever plugins registered) and plugin commands. */
export function schemaFor(reg: Registries, plugins?: PluginHost): JsonSchema {
  return buildConfigSchema({
    operators: reg.operators.entries().map(([, v]) => v),
    templates: reg.templates.entries().map(([, v]) => v),
    ...(plugins !== undefined ? { extraSections: plugins.commandSchemas() } : {}),
  });
}

/**
 * Built-ins are the same in every load, so their schema (and the ajv validator compiled for that
 * object) is built once: a live reload then costs a parse and a validation, not a compile.
 */
let builtinSchemaCache: JsonSchema | null = null;
function builtinSchema(reg: Registries): JsonSchema {
  return (builtinSchemaCache ??= schemaFor(reg));
}

const asRecord = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});

function readConfig(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw proxyError('PRX_ERR_CONFIG_READ', path, (err as NodeJS.ErrnoException).code ?? String(err));
  }
}

/** The diagnostics logger from a (possibly not yet validated) config's `log:` section. */
function loggerFor(cfg: Readonly<Record<string, unknown>>): Logger {
  const logCfg = (cfg['log'] ?? {}) as { level?: string; pretty?: boolean; to?: string };
  return createLogger({
    level: (logCfg.level ?? 'info') as 'info',
    pretty: logCfg.pretty ?? false,
    destination: logCfg.to === undefined || logCfg.to === 'stderr' ? 2 : logCfg.to === 'stdout' ? 1 : logCfg.to,
  });
}

export class Runtime {
  readonly services: ServiceRuntime[] = [];
  private replaced = false;
  private constructor(
    readonly loaded: LoadedConfig,
    readonly env: Env,
    readonly accessLogs: AccessLogs,
    /** What the config's plugins contributed (commands, hooks, jobs, symbols). */
    readonly plugins: PluginHost,
    /** Plugin jobs and log rotation; started with the runtime, stopped when it stops or is replaced. */
    readonly scheduler: Scheduler,
  ) {}

  /**
   * Loads a config file (YAML, JSON or legacy .cfg). Throws PRX_ERR_CONFIG_INVALID with every
   * problem. Plugins with an asynchronous setup (or a setup timeout) need loadFile.
   */
  static fromFile(file: string, opts: RuntimeOptions = {}): Runtime {
    return Runtime.fromText(readConfig(file), file, opts);
  }

  /** Synchronous load: plugins are loaded too, but each setup must be synchronous (else use load). */
  static fromText(text: string, file: string, opts: RuntimeOptions = {}): Runtime {
    // Parsing twice costs only for texts that mention plugins at all.
    const raw = text.includes('plugins') ? asRecord(parseConfigText(text, file).value) : {};
    const entries = pluginEntries(raw);
    const reg = builtinRegistries();
    if (entries.length === 0) return Runtime.build(loadConfigText(text, file, builtinSchema(reg)), reg, opts, new PluginHost());
    const logger = opts.logger ?? loggerFor(raw);
    const host = loadPluginsSync(entries, file, reg, logger);
    return Runtime.build(loadConfigText(text, file, schemaFor(reg, host)), reg, { ...opts, logger }, host);
  }

  /** Like fromFile, loading the config's `plugins:` first (their operators, commands and auth methods join the schema). */
  static async loadFile(file: string, opts: RuntimeOptions = {}): Promise<Runtime> {
    return Runtime.load(readConfig(file), file, opts);
  }

  /**
   * Two-phase load: parse, load the `plugins:` entries (paths relative to `file`) into fresh
   * registries, then build the schema from them and validate the whole config.
   */
  static async load(text: string, file: string, opts: RuntimeOptions = {}): Promise<Runtime> {
    const raw = asRecord(parseConfigText(text, file).value);
    const logger = opts.logger ?? loggerFor(raw);
    const reg = builtinRegistries();
    const host = await loadPlugins(pluginEntries(raw), file, reg, logger);
    return Runtime.build(loadConfigText(text, file, schemaFor(reg, host)), reg, { ...opts, logger }, host);
  }

  private static build(loaded: LoadedConfig, reg: Registries, opts: RuntimeOptions, plugins: PluginHost): Runtime {
    const cfg = loaded.config;
    const logger = opts.logger ?? loggerFor(cfg);
    const clock = opts.clock ?? systemClock;
    const rotation = rotationOf(cfg['accessLog'], logger);
    const accessLogs = new AccessLogs(() => new Date(clock.now()), opts.dryRun !== true, rotation);
    const env: Env = {
      logger,
      clock,
      operators: reg.operators,
      authMethods: reg.authMethods,
      templates: reg.templates,
      resolver: opts.resolver ?? resolverFromConfig(cfg['resolver'] as ResolverConfig | undefined, () => clock.now()),
      dialer: opts.dialer ?? new DirectDialer(),
      accessLogs,
      users: loadUsers(cfg, loaded.file),
      config: cfg,
      symbols: plugins.symbols,
    };
    // Shared by every service, as 3proxy's limit lists are global.
    const limits = new Limits(cfg, loaded.file, clock);
    env.symbols.set(LIMITS_SYMBOL, limits);
    // Root `maxconn`: one slot count across every service (ServiceRuntime.accept takes a slot).
    env.symbols.set(GLOBAL_SLOTS_SYMBOL, limits.slots);
    env.symbols.set('connect.chain', new ParentChain(env));
    plugins.attach(env, accessLogs.listeners);
    const scheduler = new Scheduler(clock, logger, opts.timers);
    plugins.scheduleOn(scheduler);
    if (rotation !== undefined) scheduler.add({ owner: 'accessLog', every: rotation.every, run: () => accessLogs.rotateAll() });
    const rt = new Runtime(loaded, env, accessLogs, plugins, scheduler);
    // The admin service reads live sessions and counters from here (core/introspect.ts).
    env.symbols.set(RUNTIME_SYMBOL, rt);
    const problems: ConfigProblem[] = [];
    const services = (cfg['services'] ?? []) as ServiceConfig[];
    services.forEach((s, i) => {
      try {
        rt.services.push(createServiceRuntime(s, env));
      } catch (err) {
        const e = toProxyError(err);
        problems.push({ file: loaded.file, line: 1, column: 1, pointer: `/services/${i}`, message: `service "${s.name}": ${e.message}` });
      }
    });
    if (problems.length > 0) throw new ProxyError('PRX_ERR_CONFIG_INVALID', `invalid configuration: ${problems.length} problem(s)`, { errors: problems });
    return rt;
  }

  /** Bandwidth buckets, connection limits and traffic counters shared by the services. */
  get limits(): Limits {
    return this.env.symbols.get(LIMITS_SYMBOL) as Limits;
  }

  get logger(): Logger {
    return this.env.logger;
  }

  /** Starts every service; all or nothing. */
  async start(): Promise<void> {
    const started: ServiceRuntime[] = [];
    this.limits.start((err) => this.logger.error({ err }, 'cannot save traffic counters'));
    try {
      for (const s of this.services) {
        await s.start();
        started.push(s);
      }
    } catch (err) {
      await Promise.all(started.map((s) => s.stop(0)));
      throw err;
    }
    this.scheduler.start();
  }

  /** `{ serviceName: boundPort }`, what --port-file writes. */
  ports(): Record<string, number> {
    return Object.fromEntries(this.services.map((s) => [s.name, s.port]));
  }

  /** Resolves when no connection is live in any service. */
  async whenIdle(): Promise<void> {
    await Promise.all(this.services.map((s) => s.whenIdle()));
  }

  liveConnections(): number {
    return this.services.reduce((n, s) => n + s.live.size, 0);
  }

  /** Graceful stop: stop listening, let sessions finish for `graceMs` (default shutdownTimeout), cut the rest. */
  async stop(graceMs?: number): Promise<void> {
    const grace = graceMs ?? parseDuration((this.env.config['shutdownTimeout'] as string | undefined) ?? '10s');
    this.scheduler.stop();
    await Promise.all(this.services.map((s) => s.stop(grace)));
    this.limits.stop();
    // 3proxy runs scheduled jobs once more on stop (e.g. a final traffic report).
    await this.scheduler.runAll('stop');
    await this.accessLogs.closeAll();
  }

  /**
   * Cuts everything now (second signal). Counters are still saved: a second Ctrl-C must not
   * cost the traffic counted since the last periodic save.
   */
  kill(): void {
    this.scheduler.stop();
    for (const s of this.services) s.killAll();
    // A replaced runtime saved its counters at the swap; saving its stale copy again would
    // overwrite what the current runtime counted since.
    if (!this.replaced) {
      try {
        this.limits.stop();
      } catch (err) {
        this.logger.error({ err }, 'cannot save traffic counters');
      }
    }
    this.accessLogs.flushAll();
  }

  /** Replaced by a reload: its jobs run once (3proxy runs them before re-reading the config), then never again. */
  async retireJobs(): Promise<void> {
    this.replaced = true;
    this.scheduler.stop();
    await this.scheduler.runAll('reload');
  }

  reopenLogs(): void {
    this.accessLogs.reopenAll();
  }
}

/**
 * `users:` (a map, or `{ file: PATH }`) plus `usersFiles:`; paths are relative to the config
 * file. Read on every load, so a reload picks up an edited users file.
 */
function loadUsers(cfg: Readonly<Record<string, unknown>>, file: string): UserTable {
  const section = usersSection(cfg['users']);
  const table = section.kind === 'map' ? UserTable.fromMap(section.map, 'users') : new UserTable();
  const files = [...(section.kind === 'file' ? [section.path] : []), ...((cfg['usersFiles'] ?? []) as string[])];
  for (const f of files) {
    const path = resolve(dirname(file), f);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw proxyError('PRX_ERR_CONFIG_READ', path, (err as NodeJS.ErrnoException).code ?? String(err));
    }
    table.addUsersFile(text, path);
  }
  return table;
}
