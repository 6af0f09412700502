/**
 * regex-filter: 3proxy's PCRE plugin (pcre, pcre_rewrite, pcre_extend, pcre_options) as a
 * filter on JavaScript RegExp.
 *
 *   plugins: [{ module: regex-filter }]
 *   regexFilter:
 *     rules:
 *       - { types: [request], action: deny, pattern: '^GET http://ads\.', match: [{ sources: [10.0.0.0/8] }] }
 *       - { types: [cliheader], action: dunno, pattern: 'User-Agent: [^\r\n]*', replace: 'User-Agent: rx3proxy' }
 *   services:
 *     - { name: web, type: proxy, listen: 3128, filters: [regex-filter.pcre] }
 *
 * The section's rules are compiled when the config loads (a reload compiles them again); each
 * service that lists `regex-filter.pcre` takes the rules meant for it, and its sessions run
 * only the stages those rules use (no data rule: the relay stays on pipe()).
 */
import { definePlugin, defineFilter, FilterResult, type BufferStage, type Session, type FilterBuffer } from '../../index';
import { compileRules, rulesFor, runRules, type Rule, type RuleSpec } from './rules';
import { createTranslator } from './legacy';

export type { RuleSpec } from './rules';

const TYPES = ['request', 'cliheader', 'srvheader', 'clidata', 'srvdata'];

const matchSchema = {
  type: 'object',
  additionalProperties: false,
  description: "An ACE (3proxy make_ace): every given field must match, as in an acl rule's match.",
  properties: Object.fromEntries(
    ['users', 'sources', 'targets', 'ports', 'operations', 'weekdays', 'times'].map((k) => [
      k,
      { type: 'array', items: { type: ['string', 'integer'] }, description: `ACL ${k} list (see docs/config.md, acl match).` },
    ]),
  ),
};

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  description: 'regex-filter rules (3proxy pcre / pcre_rewrite), checked in order by the regex-filter.pcre filter.',
  properties: {
    rules: {
      type: 'array',
      description: 'Rules in order; the first allow/deny/remove that applies decides, dunno goes on.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['types', 'action', 'pattern'],
        properties: {
          types: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: TYPES }, description: 'What the pattern is matched against: request line, client/server headers, client/server data.' },
          action: { type: 'string', enum: ['allow', 'deny', 'remove', 'dunno'], description: 'allow accepts (no further rules), deny and remove refuse, dunno goes on to the next rule.' },
          pattern: { type: 'string', description: 'JavaScript regular expression over the bytes as Latin-1 text; "*" matches always.' },
          flags: { type: 'string', pattern: '^[imsu]*$', description: 'RegExp flags (i m s u), what pcre_options set.' },
          replace: { type: 'string', description: 'pcre_rewrite: every match is replaced; $0..$9 insert groups, \\x is a literal x.' },
          match: { type: 'array', items: matchSchema, description: 'ACEs; the rule applies when any matches (none: always). The first one\'s sources also decide at connect time.' },
          services: { type: 'array', items: { type: 'string' }, description: 'Only for these services (default: every service listing the filter).' },
          exceptServices: { type: 'array', items: { type: 'string' }, description: 'Not for these services (the converter names the services above a legacy pcre line).' },
        },
      },
    },
  },
};

/** Per connection: the service's rules whose first ACE admits the client address. */
type Attached = readonly Rule[];

export default definePlugin({
  name: 'regex-filter',
  version: '1.0.0',
  setup(api) {
    let rules: Rule[] = [];
    api.command({
      name: 'regexFilter',
      schema: sectionSchema,
      apply(value) {
        rules = compileRules((value as { rules: RuleSpec[] }).rules, '/regexFilter/rules');
        api.logger.debug({ rules: rules.length }, 'regex-filter rules compiled');
      },
      legacy: createTranslator(),
    });
    const stage = (name: BufferStage) => (attached: Attached, session: Session, buf: FilterBuffer): FilterResult => runRules(attached, name, session, buf);
    api.filter(
      defineFilter<Attached, Attached>({
        name: 'pcre',
        open(service) {
          const mine = rulesFor(rules, service.name);
          return mine.length === 0 ? null : mine;
        },
        stages: (opened) => [...new Set(opened.flatMap((r) => [...r.stages]))],
        client(opened, session) {
          const now = Date.now();
          const attached = opened.filter((r) => r.client === null || r.client({ user: null, clientAddress: session.connection.clientAddress, targetHost: '', targetAddress: null, port: 0, operation: 'CONNECT', now: new Date(now) }));
          return attached.length === 0 ? FilterResult.PASS : { result: FilterResult.CONTINUE, state: attached };
        },
        request: stage('request'),
        headerClient: stage('headerClient'),
        headerServer: stage('headerServer'),
        dataClient: stage('dataClient'),
        dataServer: stage('dataServer'),
      }),
    );
  },
});
