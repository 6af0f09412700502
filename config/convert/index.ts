/**
 * Legacy 3proxy.cfg support: `convertLegacy` translates a 3proxy config script into the
 * rx3proxy YAML shape (CONFIG.md), and `isLegacyConfig` tells a legacy file from YAML.
 *
 *   text -> reader (tokenize, $file, include, end) -> command table -> state -> emit
 *
 * `errors` non-empty means a line 3proxy itself would refuse (wording kept, plus FILE:LINE);
 * `warnings` name every command that translates to nothing or changes meaning, and the
 * pitfalls 3proxy users fall into (PRXWRN00x codes from core/errors.ts).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { checkParentGroups, reportUnused } from './acl-commands';
import { COMMANDS } from './commands';
import { emit } from './emit';
import type { Diagnostic } from './model';
import { ScriptReader } from './reader';
import { ConvertState } from './state';
import { pluginCommands } from './plugin-commands';
import { commandLines, tokenizeLine } from './tokenize';

export type { Diagnostic } from './model';
export { COMMANDS } from './commands';
export type { LegacyCommand } from './commands';

export interface ConvertOptions {
  /** Reads an `include` or `$file` (absolute path); default: the file system. Throw or return undefined when missing. */
  readonly readFile?: (file: string) => string | undefined;
  /** Plugin modules (paths) whose commands' legacy translators join the shipped ones. */
  readonly plugins?: readonly string[];
}

export interface ConvertResult {
  /** Plain YAML-shaped object (what the YAML text parses to). */
  readonly config: Record<string, unknown>;
  readonly yaml: string;
  readonly warnings: Diagnostic[];
  readonly errors: Diagnostic[];
}

const defaultRead = (file: string): string => readFileSync(file, 'utf8');

/** Pitfalls only visible once the whole script has run. */
function finalChecks(st: ConvertState): void {
  reportUnused(st, 'no service line follows it');
  checkParentGroups(st);
  const { lastChange, servicesAtChange } = st.log;
  if (lastChange !== undefined && st.services.length > 0 && servicesAtChange === st.services.length) {
    st.warn('PRXWRN005', 'no service line follows it, so no service logs with it; move it above the services', lastChange);
  }
}

/** Sorted by file (in order of first appearance), then line; stable otherwise. */
function byPlace(list: readonly Diagnostic[]): Diagnostic[] {
  const files = new Map<string, number>();
  for (const d of list) if (!files.has(d.file)) files.set(d.file, files.size);
  return [...list].sort((a, b) => (files.get(a.file) ?? 0) - (files.get(b.file) ?? 0) || a.line - b.line);
}

/**
 * Converts the 3proxy config `text` (read from `fileName`, which names it in diagnostics and
 * anchors relative `include`/`$file` paths).
 */
export function convertLegacy(text: string, fileName: string, opts: ConvertOptions = {}): ConvertResult {
  const read = opts.readFile ?? defaultRead;
  const safeRead = (file: string): string | undefined => {
    try {
      return read(file);
    } catch {
      return undefined;
    }
  };
  const st = new ConvertState(() => pluginCommands(opts.plugins));
  new ScriptReader(st, safeRead).run(text, fileName, path.resolve(fileName));
  finalChecks(st);
  const { config, yaml } = emit(st, fileName);
  return { config, yaml, warnings: byPlace(st.warnings), errors: st.errors };
}

/**
 * True for a legacy 3proxy config: a `.cfg` file, or (for other names that are not
 * `.yaml`/`.yml`/`.json`) content whose first command line starts with a 3proxy command
 * rather than a YAML key.
 */
export function isLegacyConfig(text: string, fileName: string): boolean {
  const ext = path.extname(fileName).toLowerCase();
  if (ext === '.cfg') return true;
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') return false;
  const first = commandLines(text)[0];
  if (first === undefined) return false;
  if (/^(---|%YAML|\{|\[)/.test(first.text) || /^[^\s"]+:(\s|$)/.test(first.text)) return false;
  const tokens = tokenizeLine(first.text);
  const name = tokens?.[0];
  return name !== undefined && 'text' in name && (Object.prototype.hasOwnProperty.call(COMMANDS, name.text) || name.text === 'include' || name.text === 'end' || name.text === 'writable');
}

/** `FILE:LINE: [CODE] message`, the line `rx3proxy convert` prints. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}: ${d.code === undefined ? '' : `${d.code} `}${d.message}`;
}
