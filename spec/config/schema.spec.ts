import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';

describe('config schema', () => {
  const live = schemaFor(builtinRegistries());

  it('schemas/config.schema.json is up to date (run `npm run schema`)', () => {
    const file = JSON.parse(readFileSync(join(__dirname, '../../schemas/config.schema.json'), 'utf8')) as unknown;
    expect(file).toEqual(JSON.parse(JSON.stringify(live)));
  });

  it('describes every property', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const obj = node as Record<string, unknown>;
      const props = obj['properties'];
      if (props !== null && typeof props === 'object') {
        for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
          const d = v as Record<string, unknown>;
          // if/then conditions restate a property for matching; they are not documentation.
          if (/\/(if|then)(\/|$)/.test(path)) continue;
          if (typeof d['description'] !== 'string' && d['$ref'] === undefined) missing.push(`${path}/properties/${k}`);
        }
      }
      for (const [k, v] of Object.entries(obj)) walk(v, `${path}/${k}`);
    };
    walk(live, '');
    expect(missing).toEqual([]);
  });

  it('names every built-in operator and service type', () => {
    const defs = live['$defs'] as Record<string, unknown>;
    for (const op of ['readRequest', 'authenticate', 'authorize', 'connect', 'mapSockets', 'log']) expect(defs[`operator.${op}`]).toBeDefined();
    expect(defs['options.tcppm']).toBeDefined();
  });
});
