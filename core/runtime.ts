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
import { loadConfigFile, loadConfigText, type LoadedConfig } from '../config/load';
import { ServiceRuntime, type ServiceConfig } from './service';
import { ProxyError, proxyError, toProxyError, type ConfigProblem } from './errors';
import { systemClock, type Clock, type Env } from './env';
import { SystemResolver, type Resolver } from './net/resolver';
import { DirectDialer, type Dialer } from './net/dialer';
import { AccessLogs } from '../operators/log/writer';
import { parseDuration } from '../config/units';
import { packageRoot } from './paths';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { UserTable } from './users';

export const DEFAULT_CONFIG_PATH = (): string => join(packageRoot(), 'config', 'default.yaml');

export interface RuntimeOptions {
  /** Use this logger instead of one built from the config's `log:` section. */
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly resolver?: Resolver;
  readonly dialer?: Dialer;
}

/** The schema for a set of registries (built-ins + whatever plugins registered). */
export function schemaFor(reg: Registries): JsonSchema {
  return buildConfigSchema({ operators: reg.operators.entries().map(([, v]) => v), templates: reg.templates.entries().map(([, v]) => v) });
}

export class Runtime {
  readonly services: ServiceRuntime[] = [];
  private constructor(
    readonly loaded: LoadedConfig,
    readonly env: Env,
    readonly accessLogs: AccessLogs,
  ) {}

  /** Loads a config file (YAML, JSON or legacy .cfg). Throws PRX_ERR_CONFIG_INVALID with every problem. */
  static fromFile(file: string, opts: RuntimeOptions = {}): Runtime {
    const reg = builtinRegistries();
    return Runtime.build(loadConfigFile(file, schemaFor(reg)), reg, opts);
  }

  static fromText(text: string, file: string, opts: RuntimeOptions = {}): Runtime {
    const reg = builtinRegistries();
    return Runtime.build(loadConfigText(text, file, schemaFor(reg)), reg, opts);
  }

  private static build(loaded: LoadedConfig, reg: Registries, opts: RuntimeOptions): Runtime {
    const cfg = loaded.config;
    const logCfg = (cfg['log'] ?? {}) as { level?: string; pretty?: boolean; to?: string };
    const logger =
      opts.logger ??
      createLogger({
        level: (logCfg.level ?? 'info') as 'info',
        pretty: logCfg.pretty ?? false,
        destination: logCfg.to === undefined || logCfg.to === 'stderr' ? 2 : logCfg.to === 'stdout' ? 1 : logCfg.to,
      });
    const clock = opts.clock ?? systemClock;
    const accessLogs = new AccessLogs(() => new Date(clock.now()));
    const env: Env = {
      logger,
      clock,
      operators: reg.operators,
      authMethods: reg.authMethods,
      templates: reg.templates,
      resolver: opts.resolver ?? new SystemResolver(),
      dialer: opts.dialer ?? new DirectDialer(),
      accessLogs,
      users: loadUsers(cfg, loaded.file),
      config: cfg,
      symbols: new Map(),
    };
    const rt = new Runtime(loaded, env, accessLogs);
    const problems: ConfigProblem[] = [];
    const services = (cfg['services'] ?? []) as ServiceConfig[];
    services.forEach((s, i) => {
      try {
        rt.services.push(new ServiceRuntime(s, env));
      } catch (err) {
        const e = toProxyError(err);
        problems.push({ file: loaded.file, line: 1, column: 1, pointer: `/services/${i}`, message: `service "${s.name}": ${e.message}` });
      }
    });
    if (problems.length > 0) throw new ProxyError('PRX_ERR_CONFIG_INVALID', `invalid configuration: ${problems.length} problem(s)`, { errors: problems });
    return rt;
  }

  get logger(): Logger {
    return this.env.logger;
  }

  /** Starts every service; all or nothing. */
  async start(): Promise<void> {
    const started: ServiceRuntime[] = [];
    try {
      for (const s of this.services) {
        await s.start();
        started.push(s);
      }
    } catch (err) {
      await Promise.all(started.map((s) => s.stop(0)));
      throw err;
    }
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
    await Promise.all(this.services.map((s) => s.stop(grace)));
    await this.accessLogs.closeAll();
  }

  /** Cuts everything now (second signal). */
  kill(): void {
    for (const s of this.services) s.killAll();
    this.accessLogs.flushAll();
  }

  reopenLogs(): void {
    this.accessLogs.reopenAll();
  }
}

/** `users:` plus `usersFiles:` (3proxy format, paths relative to the config file). */
function loadUsers(cfg: Readonly<Record<string, unknown>>, file: string): UserTable {
  const table = UserTable.fromMap((cfg['users'] ?? {}) as Record<string, unknown>, 'users');
  for (const f of (cfg['usersFiles'] ?? []) as string[]) {
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
