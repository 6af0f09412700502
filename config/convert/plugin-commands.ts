/**
 * 3proxy commands that a shipped rx3proxy plugin translates itself (`api.command({ legacy })`):
 *
 *   pcre, pcre_rewrite, pcre_extend, pcre_options   -> regex-filter's `regexFilter:` section
 *   plugin PCREPlugin.dll pcre_plugin                -> `plugins: [{ module: regex-filter }]`
 *
 * The plugins are loaded lazily (require) the first time a converter asks, with a recording
 * PluginApi that keeps only their commands: nothing else of theirs runs.
 */
import { join, resolve } from 'node:path';
import type { CommandDef, LegacyContext, LegacyTranslator, PluginApi, PluginDef } from '../../core/plugin-api';
import { silentLogger } from '../../core/logger';
import { parseAce } from './ace';
import type { ConvertState } from './state';

/** Shipped plugins (plugins/<name>) whose commands carry a legacy translator. */
export const LEGACY_PLUGINS: readonly string[] = ['regex-filter'];

export interface PluginCommand {
  readonly plugin: string;
  readonly section: string;
  readonly translator: LegacyTranslator;
}

let shipped: Map<string, PluginCommand> | null = null;

/** Runs a plugin's setup with an API that records commands and ignores the rest. */
function recordCommands(def: PluginDef<never>): CommandDef[] {
  const commands: CommandDef[] = [];
  const ignore = (): void => undefined;
  const api: PluginApi = {
    name: def.name,
    configDir: process.cwd(),
    logger: silentLogger(),
    symbols: { provide: ignore, find: () => undefined },
    hooks: { log: ignore, traffic: ignore, bandwidth: ignore },
    operator: ignore,
    auth: ignore,
    filter: ignore,
    schedule: ignore,
    command: (c) => void commands.push(c),
  };
  void def.setup(api, {} as never);
  return commands;
}

/** Adds the translated commands of the plugin module at `path` to `into`. */
function addPlugin(into: Map<string, PluginCommand>, path: string, module: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path) as { default?: PluginDef<never> } & PluginDef<never>;
  const def = mod.default ?? mod;
  for (const c of recordCommands(def)) {
    if (c.legacy === undefined) continue;
    for (const cmd of c.legacy.commands) into.set(cmd, { plugin: module, section: c.name, translator: c.legacy });
  }
}

/**
 * Command name -> the plugin command translating it: the shipped plugins (loaded once), plus
 * `extra` plugin modules (paths, as they will appear in `plugins:`) for third-party translators.
 */
export function pluginCommands(extra: readonly string[] = []): ReadonlyMap<string, PluginCommand> {
  if (shipped === null) {
    shipped = new Map();
    for (const name of LEGACY_PLUGINS) addPlugin(shipped, join(__dirname, '..', '..', 'plugins', name), name);
  }
  if (extra.length === 0) return shipped;
  const all = new Map(shipped);
  for (const module of extra) addPlugin(all, resolve(module), module);
  return all;
}

/** The plugin standing for a 3proxy `plugin LIB ENTRY` line, if any. */
export function pluginForEntry(st: ConvertState, entry: string): string | undefined {
  for (const c of st.pluginCommands.values()) if (c.translator.entries?.includes(entry) === true) return c.plugin;
  return undefined;
}

/** Lists the plugin in `plugins:` once (3proxy 0.9 has PCRE built in, so no `plugin` line is needed). */
export function usePlugin(st: ConvertState, plugin: string): void {
  if ((st.lists.get('plugins') ?? []).some((p) => (p.value as { module?: string }).module === plugin)) return;
  st.push('plugins', { module: plugin });
}

/** A pcre-style line: the owning plugin's translator runs with a context over the converter state. */
export function runPluginCommand(st: ConvertState, args: readonly string[]): void {
  const found = st.pluginCommands.get(args[0] ?? '');
  if (found === undefined) st.fail(`Unknown command: '${args[0] ?? ''}'`);
  usePlugin(st, found.plugin);
  const { section } = found;
  const ctx: LegacyContext = {
    get section() {
      return st.pluginSections.get(section)?.value;
    },
    set section(value: unknown) {
      st.pluginSections.set(section, { value, src: st.pluginSections.get(section)?.src ?? st.src });
    },
    ace: (fields) => parseAce(st, fields).match as Record<string, unknown>,
    servicesSoFar: st.services.map((s) => s.value.name),
    attachFilter: (name) => {
      if (!st.filters.includes(name)) st.filters.push(name);
    },
    warn: (message) => st.warn('PRXWRN007', message),
    fail: (message) => st.fail(message),
  };
  found.translator.translate(args, ctx);
}
