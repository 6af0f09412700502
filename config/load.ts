/**
 * Loading a config: read the file, parse YAML/JSON keeping source positions (or convert a
 * legacy 3proxy.cfg in memory), validate against the schema with defaults applied, run the
 * cross checks, deep-freeze. Every problem is collected, not only the first.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isMap, isScalar, parseDocument, visit, type Document } from 'yaml';
import { ProxyError, proxyError, type ConfigProblem } from '../core/errors';
import type { JsonSchema } from '../core/operator';
import { compileSchema, crossChecks, toProblems, type SourceMap } from './validate';
import type * as Convert from './convert';
import { tlsLoadChecks } from '../core/tls';
import { mitmLoadChecks } from '../core/mitm/config';

/** The converter is loaded only for legacy files: YAML configs never pay for it. */
export function converter(): typeof Convert {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./convert') as typeof Convert;
}

/** `.yaml`/`.yml`/`.json` are never legacy; anything else is asked of the converter. */
export function looksLegacy(text: string, file: string): boolean {
  if (/\.(ya?ml|json)$/i.test(file)) return false;
  return converter().isLegacyConfig(text, file);
}

export interface LoadedConfig {
  readonly file: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** Non-fatal notes (legacy conversion warnings, probable mistakes). */
  readonly warnings: readonly string[];
  /** True when the file was a 3proxy.cfg converted in memory. */
  readonly legacy: boolean;
}

export interface ParsedSource {
  readonly value: unknown;
  readonly source?: SourceMap;
  readonly problems: ConfigProblem[];
  readonly warnings: string[];
  readonly legacy: boolean;
}

/** Parses text as YAML (JSON is YAML), or as a legacy 3proxy.cfg. */
export function parseConfigText(text: string, file: string): ParsedSource {
  if (looksLegacy(text, file)) {
    const r = converter().convertLegacy(text, file, { readFile: (p: string) => readFileSync(resolve(file, '..', p), 'utf8') });
    const fmt = (d: { file: string; line: number; code?: string | undefined; message: string }): string => `${d.file}:${d.line}: ${d.code !== undefined ? d.code + ': ' : ''}${d.message}`;
    return {
      value: r.config,
      problems: r.errors.map((d) => ({ file: d.file, line: d.line, column: 1, pointer: '', message: d.message })),
      warnings: r.warnings.map(fmt),
      legacy: true,
    };
  }
  const lineCounter = new LineCounter();
  // yaml's own uniqueKeys check compares every key with every other (quadratic: 10,000 users
  // took seconds); duplicateKeys does the same check with a set per mapping.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const p = lineCounter.linePos(e.pos[0]);
    return { file, line: p.line, column: p.col, pointer: '', message: e.message.split('\n')[0] ?? e.message };
  });
  for (const pos of doc.errors.length === 0 ? duplicateKeys(doc) : []) {
    const p = lineCounter.linePos(pos);
    problems.push({ file, line: p.line, column: p.col, pointer: '', message: 'Map keys must be unique' });
  }
  const value: unknown = problems.length === 0 ? doc.toJS({ maxAliasCount: 100 }) : null;
  return { value, source: { doc, lineCounter }, problems, warnings: doc.warnings.map((w) => `${file}: ${w.message}`), legacy: false };
}

/** Offsets of keys that repeat an earlier key of the same mapping (scalar keys; YAML 1.2 equality on their values). */
function duplicateKeys(doc: Document): number[] {
  const found: number[] = [];
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = pair.key;
        if (!isScalar(k)) continue;
        if (seen.has(k.value)) found.push(k.range?.[0] ?? 0);
        else seen.add(k.value);
      }
    },
  });
  return found;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Validates a parsed value; returns problems (empty when valid). Defaults are applied in place. */
export function validateValue(value: unknown, file: string, schema: JsonSchema, source?: SourceMap): ConfigProblem[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ file, line: 1, column: 1, pointer: '', message: 'the config must be a mapping (version: 1, services: [...])' }];
  }
  const validate = compileSchema(schema);
  if (!validate(value)) return toProblems(validate.errors ?? [], file, source);
  return crossChecks(value as Record<string, unknown>, file, source);
}

/** Loads and validates; throws PRX_ERR_CONFIG_INVALID with every problem in `.errors`. */
export function loadConfigText(text: string, file: string, schema: JsonSchema): LoadedConfig {
  const parsed = parseConfigText(text, file);
  let problems = parsed.problems.length > 0 ? parsed.problems : validateValue(parsed.value, file, schema, parsed.source);
  // Not in validateValue: that one checks the shape only (converted samples name files of other
  // machines); a config about to run must have its key material and buildable parents.
  if (problems.length === 0) problems = tlsLoadChecks(parsed.value as Record<string, unknown>, file, parsed.source);
  if (problems.length === 0) problems = mitmLoadChecks(parsed.value as Record<string, unknown>, file, parsed.source);
  if (problems.length > 0) {
    throw new ProxyError('PRX_ERR_CONFIG_INVALID', `invalid configuration: ${problems.length} problem(s) in ${file}`, { errors: problems });
  }
  return { file, config: deepFreeze(parsed.value as Record<string, unknown>), warnings: parsed.warnings, legacy: parsed.legacy };
}

export function loadConfigFile(path: string, schema: JsonSchema): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw proxyError('PRX_ERR_CONFIG_READ', path, (err as NodeJS.ErrnoException).code ?? String(err));
  }
  return loadConfigText(text, path, schema);
}
