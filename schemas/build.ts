/**
 * Builds the config schema: root sections + shared $defs + one $def per operator (its step
 * options) + one $def per service template (its `options:`), + plugin sections. The result for
 * the built-ins is checked in as schemas/config.schema.json (`npm run schema` regenerates it,
 * a test fails when it is stale); `rx3proxy schema` prints the live one, plugins included.
 */
import { commonSchema } from './common';
import { sections, serviceCommonProperties, commonOptionProperties } from './sections';
import type { OperatorDef, JsonSchema } from '../core/operator';
import type { ServiceTemplate } from '../core/env';

export interface SchemaSources {
  readonly operators: readonly OperatorDef<never>[];
  readonly templates: readonly ServiceTemplate[];
  /** Extra top-level sections (plugin commands), name -> schema. */
  readonly extraSections?: Readonly<Record<string, JsonSchema>>;
}

/** Drops `$id` so an embedded schema's refs resolve against the root. */
function embed(schema: JsonSchema): JsonSchema {
  const { $id: _id, ...rest } = schema;
  return rest;
}

function optionsSchema(t: ServiceTemplate): JsonSchema {
  const own = embed(t.optionsSchema);
  const ownProps = (own['properties'] ?? {}) as Record<string, unknown>;
  return {
    ...own,
    type: 'object',
    additionalProperties: false,
    description: own['description'] ?? `Options of the ${t.type} service.`,
    properties: { ...commonOptionProperties, ...ownProps },
  };
}

function serviceSchema(templates: readonly ServiceTemplate[]): JsonSchema {
  const types = templates.map((t) => t.type).sort();
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'listen'],
    description: 'A service: a listener and the pipeline that serves its connections.',
    properties: { ...serviceCommonProperties, type: { ...serviceCommonProperties['type'], enum: types } },
    anyOf: [{ required: ['type'] }, { required: ['pipeline'] }],
    allOf: templates.map((t) => ({
      if: { properties: { type: { const: t.type } }, required: ['type'] },
      then: {
        properties: { options: { $ref: `#/$defs/options.${t.type}` } },
        ...(t.requires !== undefined && t.requires.length > 0 ? { required: [...t.requires] } : {}),
      },
    })),
  };
}

export function buildConfigSchema(src: SchemaSources): JsonSchema {
  const defs: Record<string, unknown> = { ...commonSchema.$defs };
  const stepProps: Record<string, unknown> = {};
  for (const op of [...src.operators].sort((a, b) => a.name.localeCompare(b.name))) {
    defs[`operator.${op.name}`] = embed(op.schema);
    stepProps[op.name] = { $ref: `#/$defs/operator.${op.name}` };
  }
  for (const t of [...src.templates].sort((a, b) => a.type.localeCompare(b.type))) defs[`options.${t.type}`] = optionsSchema(t);
  defs['step'] = {
    type: 'object',
    minProperties: 1,
    maxProperties: 1,
    additionalProperties: false,
    description: 'One pipeline step: { operatorName: options }.',
    properties: stepProps,
  };
  defs['service'] = serviceSchema(src.templates);
  const extra = src.extraSections ?? {};
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://rx3proxy.dev/schemas/config.schema.json',
    title: 'rx3proxy configuration',
    description: 'rx3proxy config, version 1. See docs/config.md.',
    type: 'object',
    additionalProperties: false,
    properties: {
      ...sections,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, embed(v)])),
      services: { type: 'array', items: { $ref: '#/$defs/service' }, description: 'The services to run.' },
    },
    $defs: defs,
  };
}
