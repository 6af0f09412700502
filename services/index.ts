/**
 * Built-in service templates: every services/*.yaml file is one template (a pipeline plus
 * defaults and the schema of the type's `options:`). Templates are data, validated like user
 * config; plugins may register more.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ServiceTemplate } from '../core/env';
import { packageRoot } from '../core/paths';
import { proxyErrorFrom } from '../core/errors';

interface TemplateFile {
  type: string;
  logName: string;
  defaultPort: number;
  transport?: 'tcp' | 'udp';
  requires?: string[];
  description: string;
  pipeline: Record<string, unknown>[];
  options?: Record<string, unknown>;
}

let cache: ServiceTemplate[] | null = null;

export function builtinTemplates(): readonly ServiceTemplate[] {
  if (cache !== null) return cache;
  const dir = join(packageRoot(), 'services');
  const out: ServiceTemplate[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    let t: TemplateFile;
    try {
      t = parse(readFileSync(join(dir, file), 'utf8')) as TemplateFile;
    } catch (err) {
      throw proxyErrorFrom('PRX_ERR_CONFIG_PARSE', err, join(dir, file), (err as Error).message);
    }
    out.push(
      Object.freeze({
        type: t.type,
        logName: t.logName,
        defaultPort: t.defaultPort,
        transport: t.transport ?? 'tcp',
        requires: t.requires ?? [],
        description: t.description,
        pipeline: t.pipeline,
        optionsSchema: t.options ?? { type: 'object', properties: {} },
      }),
    );
  }
  cache = out;
  return out;
}
