/**
 * The plugin API: 3proxy's pluginlink, typed. A plugin module exports
 *
 *   module.exports = definePlugin({ name, version?, dependencies?, schema?, setup(api, options) })
 *
 * and is listed in the config's `plugins:` section. Its `setup` runs once per loaded config
 * (a reload builds fresh registries, so nothing is registered twice). Contributions
 * (operators, auth methods, filters) are named `<plugin>.<name>`; commands add a top-level section.
 */
import type { Logger } from './logger';
import type { OperatorDef, JsonSchema } from './operator';
import type { Env } from './env';
import type { Session } from './session';
import type { ProxyError } from './errors';
import type { AclDecision } from './acl';
import type { AccessRecord } from '../operators/log/record';
import type { FilterDef } from './filter-api';
import type { BandwidthHookFn, HookScope, TrafficHookFn } from './plugin-hooks';

/** 3proxy `schedule` periods (the operations issue runs them; all run once on stop). */
export type SchedulePeriod = 'minutely' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'annually';
export const SCHEDULE_PERIODS: readonly SchedulePeriod[] = ['minutely', 'hourly', 'daily', 'weekly', 'monthly', 'annually'];

/** A new top-level config section (3proxy plugin command). */
export interface CommandDef {
  /** The section key in the config (must not clash with a built-in section). */
  readonly name: string;
  /** JSON Schema of the section's value; it joins the config schema. */
  readonly schema: JsonSchema;
  /** Called once the config is valid and the Env is built, only when the section is present. */
  apply?(value: unknown, env: Env): void;
  /** How `rx3proxy convert` translates this plugin's 3proxy.cfg commands into the section. */
  legacy?: LegacyTranslator;
}

/** What a legacy translator gets for one 3proxy.cfg line (config/convert). */
export interface LegacyContext {
  /** The section's value built so far (undefined before the first line); assign to change it. */
  section: unknown;
  /** 3proxy make_ace: `users sources targets ports operations weekdays times` -> a `match:` object. */
  ace(fields: readonly string[]): Record<string, unknown>;
  /** Names of the services converted so far (earlier lines). */
  readonly servicesSoFar: readonly string[];
  /** Lists a filter (`<plugin>.<name>`) in `filters:` of every service line that follows (3proxy copies its filter list there). */
  attachFilter(fullName: string): void;
  /** A warning at this line (FILE:LINE). */
  warn(message: string): void;
  /** A line 3proxy itself would refuse: reported at FILE:LINE, the conversion exits 1. */
  fail(message: string): never;
}

export interface LegacyTranslator {
  /** 3proxy commands translated (e.g. pcre, pcre_rewrite). */
  readonly commands: readonly string[];
  /** `plugin LIB ENTRY` entry points this plugin stands for (e.g. pcre_plugin): the line becomes a `plugins:` entry. */
  readonly entries?: readonly string[];
  /** `args[0]` is the command name, as 3proxy's argv. */
  translate(args: readonly string[], ctx: LegacyContext): void;
}

/** What a plugin auth method returns per service: the Authenticator contract without its name. */
export interface PluginAuthenticator {
  /** Resolves null on success, or the failure (e.g. proxyError('PRX_ERR_AUTH_...')). */
  authenticate(session: Session, signal: AbortSignal): ProxyError | null | Promise<ProxyError | null>;
  /** Decision after a successful authenticate; null = allow without an ACL (like `auth none`). */
  authorize(session: Session): AclDecision | null;
}

/** A new method for `auth:`, registered as `<plugin>.<name>`. */
export interface PluginAuthDef {
  readonly name: string;
  /** Called once per service that lists the method. */
  create(env: Env): PluginAuthenticator;
}

/** Called with every access record written (3proxy logfunc replacement; observing only). */
export type LogHookFn = (record: AccessRecord, line: string) => void;

/** Values shared between plugins (3proxy pluginlink symbols). */
export interface PluginSymbols {
  /** Throws PRX_ERR_DUPLICATE_NAME when the name is already provided. */
  provide(name: string, value: unknown): void;
  find<T = unknown>(name: string): T | undefined;
}

/** What `setup` receives. Calls after `setup` finished (or timed out) are refused. */
export interface PluginApi {
  /** The plugin's name. */
  readonly name: string;
  /** Directory of the config file: resolve the plugin's relative paths against it. */
  readonly configDir: string;
  /** A child logger bound to `{ plugin: name }`. */
  readonly logger: Logger;
  readonly symbols: PluginSymbols;
  readonly hooks: {
    /** Receive every access record written (by every service, or those in scope). */
    log(fn: LogHookFn, scope?: HookScope): void;
    /** 3proxy trafcountfunc: called once per finished request with its final bytesIn/bytesOut. */
    traffic(fn: TrafficHookFn, scope?: HookScope): void;
    /** 3proxy bandlimfunc: per relayed chunk, returns a delay in ms; in-scope sessions leave pipe(). */
    bandwidth(fn: BandwidthHookFn, scope?: HookScope): void;
  };
  /** A filter (3proxy filter API), listed in a service's `filters:` as `<plugin>.<def.name>`. */
  filter<O, C>(def: FilterDef<O, C>): void;
  /** A pipeline operator, usable in any `pipeline:` as `<plugin>.<def.name>`. */
  operator<O>(def: OperatorDef<O>): void;
  command(def: CommandDef): void;
  auth(def: PluginAuthDef): void;
  /** A periodic job; it also runs once when the runtime stops. */
  schedule(every: SchedulePeriod, fn: () => void | Promise<void>): void;
}

/** A plugin: metadata after fastify-plugin, plus its setup. */
export interface PluginDef<O = Record<string, unknown>> {
  readonly name: string;
  readonly version?: string;
  /** Plugins that must be listed (and loaded) before this one. */
  readonly dependencies?: readonly string[];
  /** JSON Schema of the entry's `options:` (defaults applied). */
  readonly schema?: JsonSchema;
  setup(api: PluginApi, options: O): void | Promise<void>;
}

/** Identity with types: declares a plugin. */
export function definePlugin<O = Record<string, unknown>>(def: PluginDef<O>): PluginDef<O> {
  return def;
}
