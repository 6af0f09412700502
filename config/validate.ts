/**
 * Validation: ajv compiled once per schema (defaults applied, all errors collected), errors
 * turned into `FILE:LINE:COL: /json/pointer: message`, plus the checks a schema cannot express
 * (unique service names, two services on one address).
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Document, LineCounter } from 'yaml';
import type { ConfigProblem } from '../core/errors';
import type { JsonSchema } from '../core/operator';
import { positionOf } from './positions';

export interface SourceMap {
  readonly doc: Document;
  readonly lineCounter: LineCounter;
}

const compiled = new WeakMap<JsonSchema, ValidateFunction>();

export function compileSchema(schema: JsonSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (v === undefined) {
    // strict off: the schema uses if/then per service type and $ref siblings (descriptions).
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
    addFormats(ajv);
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

function messageOf(e: ErrorObject): { pointer: string; key?: string; message: string } {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      return { pointer: `${e.instancePath}/${key}`, key, message: `unknown key "${key}"` };
    }
    case 'enum':
      return { pointer: e.instancePath, message: `must be one of: ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'required':
      return { pointer: e.instancePath, message: `missing required key "${String(params['missingProperty'])}"` };
    case 'pattern':
      return { pointer: e.instancePath, message: `bad value (does not match ${String(params['pattern'])})` };
    default:
      return { pointer: e.instancePath, message: e.message ?? e.keyword };
  }
}

/** ajv reports a failed anyOf/oneOf/if both as itself and as its branches; keep what helps. */
function usefulErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const out = errors.filter((e) => e.keyword !== 'if');
  return out.filter((e) => {
    if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf') return true;
    // Drop the summary when a branch error points at the same place or deeper.
    return !out.some((o) => o !== e && o.keyword !== 'anyOf' && o.keyword !== 'oneOf' && o.instancePath.startsWith(e.instancePath) && o.instancePath !== e.instancePath);
  });
}

export function toProblems(errors: readonly ErrorObject[], file: string, src?: SourceMap): ConfigProblem[] {
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const e of usefulErrors(errors)) {
    const m = messageOf(e);
    const id = `${m.pointer}\u0000${m.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const pos = src === undefined ? { line: 1, column: 1 } : positionOf(src.doc, src.lineCounter, m.key === undefined ? m.pointer : e.instancePath, m.key);
    problems.push({ file, line: pos.line, column: pos.column, pointer: m.pointer, message: m.message });
  }
  // In file order, as a compiler prints them.
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Checks beyond the schema: unique service names, no two services on one address. */
export function crossChecks(config: Record<string, unknown>, file: string, src?: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const services = Array.isArray(config['services']) ? (config['services'] as Record<string, unknown>[]) : [];
  const names = new Map<string, number>();
  const addrs = new Map<string, number>();
  const at = (pointer: string): { line: number; column: number } =>
    src === undefined ? { line: 1, column: 1 } : positionOf(src.doc, src.lineCounter, pointer);
  services.forEach((s, i) => {
    const name = s['name'];
    if (typeof name === 'string') {
      const prev = names.get(name);
      if (prev !== undefined) problems.push({ file, ...at(`/services/${i}/name`), pointer: `/services/${i}/name`, message: `duplicate service name "${name}" (also /services/${prev})` });
      else names.set(name, i);
    }
    const raw = s['listen'];
    const listen = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : undefined;
    if (listen !== undefined && !/(^|:)0$/.test(listen)) {
      const key = listen.replace(/^0\.0\.0\.0:/, '');
      const prev = addrs.get(key);
      if (prev !== undefined) problems.push({ file, ...at(`/services/${i}/listen`), pointer: `/services/${i}/listen`, message: `"${listen}" is already used by /services/${prev}` });
      else addrs.set(key, i);
    }
  });
  return problems;
}
