/**
 * PluginHost: what the loaded plugins contributed besides registry entries (commands, log
 * hooks, scheduled jobs, shared symbols), and the per-plugin API object handed to `setup`.
 *
 * A plugin's contributions are staged while its `setup` runs and committed only when it
 * succeeds, so a failed `optional: true` plugin leaves nothing half-registered behind, and a
 * setup that goes on after its timeout cannot register anything any more.
 */
import type { Logger } from './logger';
import type { Registries } from './builtins';
import type { Env, AuthMethodDef } from './env';
import type { OperatorDef, JsonSchema } from './operator';
import Ajv from 'ajv';
import { proxyError } from './errors';
import { sections } from '../schemas/sections';
import type { Scheduler } from './scheduler';
import type { FilterDef } from './filter-api';
import { FILTERS_SYMBOL } from './filters';
import { HOOKS_SYMBOL, PluginHooks } from './plugin-hooks';
import {
  SCHEDULE_PERIODS,
  type CommandDef,
  type LogHookFn,
  type PluginApi,
  type PluginAuthDef,
  type PluginDef,
  type SchedulePeriod,
} from './plugin-api';

/** A job registered with `api.schedule`. */
export interface ScheduledJob {
  readonly plugin: string;
  readonly every: SchedulePeriod;
  run(): void | Promise<void>;
}

interface PluginCommand extends CommandDef {
  readonly plugin: string;
}

/** Root keys plugins may not take over. */
const RESERVED_SECTIONS = new Set([...Object.keys(sections), 'services']);

const isFn = (v: unknown): boolean => typeof v === 'function';

/** Meta-schema check only (no $ref resolution: a section may point into the root $defs). */
const metaCheck = new Ajv({ strict: false, allowUnionTypes: true });

/** Why `schema` is not a JSON Schema, or null when it is one. */
function schemaProblem(schema: JsonSchema): string | null {
  if (metaCheck.validateSchema(schema) === true) return null;
  return metaCheck.errorsText(metaCheck.errors, { dataVar: 'schema' });
}

export class PluginHost {
  /** Loaded plugins, in load order. */
  readonly plugins: { readonly name: string; readonly version?: string }[] = [];
  readonly commands = new Map<string, PluginCommand>();
  readonly jobs: ScheduledJob[] = [];
  readonly logHooks: LogHookFn[] = [];
  readonly hooks = new PluginHooks();
  /** Filters by full name, for the services' `filters:`. */
  readonly filters = new Map<string, FilterDef<unknown, unknown>>();
  /** Becomes env.symbols, so built-in components and plugins share one map. */
  readonly symbols = new Map<string, unknown>();

  has(name: string): boolean {
    return this.plugins.some((p) => p.name === name);
  }

  /** Top-level sections added by commands, for the config schema. */
  commandSchemas(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.commands].map(([k, c]) => [k, c.schema]));
  }

  /** Once the Env exists: log hooks join the access-log listeners, present commands are applied. */
  attach(env: Env, listeners: Set<LogHookFn>): void {
    for (const h of this.logHooks) listeners.add(h);
    env.symbols.set(FILTERS_SYMBOL, this.filters);
    env.symbols.set(HOOKS_SYMBOL, this.hooks);
    for (const [name, cmd] of this.commands) {
      const value = env.config[name];
      if (value !== undefined && cmd.apply !== undefined) cmd.apply(value, env);
    }
  }

  /** Hands the jobs to the runtime's scheduler, which runs them by period, on reload and on stop. */
  scheduleOn(scheduler: Scheduler): void {
    for (const j of this.jobs) scheduler.add({ owner: j.plugin, every: j.every, run: () => j.run() });
  }

  /** Runs every job once, outside any scheduler; a failing job is logged, never thrown. */
  async runJobs(logger: Logger, filter: (j: ScheduledJob) => boolean = () => true): Promise<void> {
    for (const j of this.jobs.filter(filter)) {
      try {
        await j.run();
      } catch (err) {
        logger.error({ err, plugin: j.plugin }, 'plugin scheduled job failed');
      }
    }
  }
}

/** One plugin's staged contributions and the API that fills them. */
export class PluginStage {
  private readonly operators: OperatorDef<never>[] = [];
  private readonly auths: AuthMethodDef[] = [];
  private readonly commands: PluginCommand[] = [];
  private readonly jobs: ScheduledJob[] = [];
  private readonly hooks: LogHookFn[] = [];
  private readonly hookSet = new PluginHooks();
  private readonly filters = new Map<string, FilterDef<unknown, unknown>>();
  private readonly symbols = new Map<string, unknown>();
  private closed = false;
  readonly api: PluginApi;

  constructor(
    private readonly def: PluginDef<never>,
    private readonly reg: Registries,
    private readonly host: PluginHost,
    logger: Logger,
    private readonly configDir: string,
  ) {
    this.api = this.makeApi(logger.child({ plugin: def.name }));
  }

  /** Refuses further API calls (setup finished, failed or timed out). */
  close(): void {
    this.closed = true;
  }

  /** Moves the staged contributions into the registries and the host. */
  commit(): void {
    this.close();
    for (const op of this.operators) this.reg.operators.register(op.name, op);
    for (const a of this.auths) this.reg.authMethods.register(a.name, a);
    for (const c of this.commands) this.host.commands.set(c.name, c);
    this.host.jobs.push(...this.jobs);
    this.host.logHooks.push(...this.hooks);
    this.host.hooks.traffic.push(...this.hookSet.traffic);
    this.host.hooks.bandwidth.push(...this.hookSet.bandwidth);
    for (const [k, f] of this.filters) this.host.filters.set(k, f);
    for (const [k, v] of this.symbols) this.host.symbols.set(k, v);
    this.host.plugins.push({ name: this.def.name, ...(this.def.version !== undefined ? { version: this.def.version } : {}) });
  }

  private guard(what: string, ok: boolean, why: string): void {
    if (this.closed) throw proxyError('PRX_ERR_PLUGIN_INVALID', this.def.name, `${what} called after setup finished`);
    if (!ok) throw proxyError('PRX_ERR_PLUGIN_INVALID', this.def.name, `${what}: ${why}`);
  }

  private fullName(kind: 'operator' | 'auth method', name: string, taken: boolean): string {
    const full = `${this.def.name}.${name}`;
    if (taken || (kind === 'operator' ? this.reg.operators.has(full) : this.reg.authMethods.has(full))) {
      throw proxyError('PRX_ERR_DUPLICATE_NAME', kind, full);
    }
    return full;
  }

  private makeApi(logger: Logger): PluginApi {
    const named = (d: { name?: unknown } | null | undefined): boolean => typeof d?.name === 'string' && d.name !== '';
    return {
      name: this.def.name,
      configDir: this.configDir,
      logger,
      hooks: {
        log: (fn, scope) => {
          this.guard('hooks.log', isFn(fn), 'expected a function');
          const only = scope?.services === undefined ? null : new Set(scope.services);
          this.hooks.push(only === null ? fn : (record, line) => void (only.has(record.service) && fn(record, line)));
        },
        traffic: (fn, scope) => {
          this.guard('hooks.traffic', isFn(fn), 'expected a function');
          this.hookSet.traffic.push(PluginHooks.scoped(this.def.name, fn, scope));
        },
        bandwidth: (fn, scope) => {
          this.guard('hooks.bandwidth', isFn(fn), 'expected a function');
          this.hookSet.bandwidth.push(PluginHooks.scoped(this.def.name, fn, scope));
        },
      },
      filter: (def) => {
        this.guard('filter', named(def) && typeof def.open === 'function', 'expected { name, open, ...stages }');
        const full = `${this.def.name}.${def.name}`;
        if (this.filters.has(full) || this.host.filters.has(full)) throw proxyError('PRX_ERR_DUPLICATE_NAME', 'filter', full);
        this.filters.set(full, def as FilterDef<unknown, unknown>);
      },
      symbols: {
        provide: (name, value) => {
          this.guard('symbols.provide', typeof name === 'string', 'expected a name');
          if (this.symbols.has(name) || this.host.symbols.has(name)) throw proxyError('PRX_ERR_DUPLICATE_NAME', 'symbol', name);
          this.symbols.set(name, value);
        },
        find: <T>(name: string) => (this.symbols.get(name) ?? this.host.symbols.get(name)) as T | undefined,
      },
      operator: (def) => {
        this.guard('operator', named(def) && typeof def.schema === 'object' && typeof def.create === 'function', 'expected { name, schema, create }');
        const bad = schemaProblem(def.schema);
        this.guard('operator', bad === null, `operator "${def.name}": its schema is not a JSON Schema: ${bad ?? ''}`);
        const full = this.fullName('operator', def.name, this.operators.some((o) => o.name === `${this.def.name}.${def.name}`));
        this.operators.push({ ...def, name: full });
      },
      auth: (def) => {
        this.guard('auth', named(def) && typeof def.create === 'function', 'expected { name, create }');
        const full = this.fullName('auth method', def.name, this.auths.some((a) => a.name === `${this.def.name}.${def.name}`));
        this.auths.push(authMethod(full, def));
      },
      command: (def) => {
        this.guard('command', named(def) && typeof def.schema === 'object', 'expected { name, schema }');
        const bad = schemaProblem(def.schema);
        this.guard('command', bad === null, `section "${def.name}": its schema is not a JSON Schema: ${bad ?? ''}`);
        if (RESERVED_SECTIONS.has(def.name) || this.host.commands.has(def.name) || this.commands.some((c) => c.name === def.name)) {
          throw proxyError('PRX_ERR_DUPLICATE_NAME', 'config section', def.name);
        }
        this.commands.push({ ...def, plugin: this.def.name });
      },
      schedule: (every, fn) => {
        this.guard('schedule', SCHEDULE_PERIODS.includes(every) && isFn(fn), `expected one of ${SCHEDULE_PERIODS.join('|')} and a function`);
        this.jobs.push({ plugin: this.def.name, every, run: fn });
      },
    };
  }
}

/** Wraps a plugin auth def into the registry's AuthMethodDef (the Authenticator contract). */
function authMethod(full: string, def: PluginAuthDef): AuthMethodDef {
  return {
    name: full,
    create: (_options, env) => {
      const a = def.create(env);
      return { name: full, authenticate: a.authenticate.bind(a), authorize: a.authorize.bind(a) };
    },
  };
}
