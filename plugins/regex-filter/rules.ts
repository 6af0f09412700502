/**
 * regex-filter's rules at run time: 3proxy's PCRE filter (pcre_plugin.c) on JavaScript RegExp.
 *
 *   per rule: its types (stages), an action, a pattern (`*` = always), an optional replacement,
 *   ACEs (any one must match the request), and the services it is for
 *
 *   buffer stage, rules in order:
 *     no ACE matches                  -> next rule
 *     pattern `*`                     -> the rule's action
 *     no replacement (or no resize)   -> pattern found ? action : next rule
 *     replacement                     -> every match replaced; any replaced ? action : next rule
 *   allow = PASS, deny = REJECT, remove = REMOVE, dunno = CONTINUE (the chain goes on)
 *
 * Bytes are matched as Latin-1 text, so a pattern sees each byte as one character (PCRE
 * without UTF), and replacing keeps every other byte as it was.
 */
import { compileMatch, aclRequest, proxyError, FilterResult, type BufferStage, type FilterBuffer, type MatchSpec, type Session } from '../../index';

export type RuleType = 'request' | 'cliheader' | 'srvheader' | 'clidata' | 'srvdata';
export type RuleAction = 'allow' | 'deny' | 'remove' | 'dunno';

/** One rule as written in the `regexFilter:` section. */
export interface RuleSpec {
  readonly types: readonly RuleType[];
  readonly action: RuleAction;
  readonly pattern: string;
  readonly flags?: string;
  readonly replace?: string;
  readonly match?: readonly MatchSpec[];
  readonly services?: readonly string[];
  readonly exceptServices?: readonly string[];
}

export const STAGE_OF: Readonly<Record<RuleType, BufferStage>> = {
  request: 'request',
  cliheader: 'headerClient',
  srvheader: 'headerServer',
  clidata: 'dataClient',
  srvdata: 'dataServer',
};

const RESULT: Readonly<Record<RuleAction, FilterResult>> = {
  allow: FilterResult.PASS,
  deny: FilterResult.REJECT,
  remove: FilterResult.REMOVE,
  dunno: FilterResult.CONTINUE,
};

type Ace = ReturnType<typeof compileMatch>;

export interface Rule {
  readonly index: number;
  readonly stages: ReadonlySet<BufferStage>;
  readonly result: FilterResult;
  /** null: the pattern `*`. */
  readonly test: RegExp | null;
  readonly global: RegExp | null;
  readonly replace: string | null;
  readonly aces: readonly Ace[];
  /** The first ACE's sources only: 3proxy's filter_client attaches a rule by client address. */
  readonly client: Ace | null;
  readonly services: ReadonlySet<string> | null;
  readonly exceptServices: ReadonlySet<string>;
}

/** Compiles the section's rules; errors name the rule by its JSON pointer. */
export function compileRules(specs: readonly RuleSpec[], pointer: string): Rule[] {
  return specs.map((r, i) => {
    const at = `${pointer}/${i}`;
    let test: RegExp | null = null;
    let global: RegExp | null = null;
    if (r.pattern !== '*' && r.pattern !== '') {
      const flags = (r.flags ?? '').replace(/g/g, '');
      try {
        test = new RegExp(r.pattern, flags);
        global = new RegExp(r.pattern, `${flags}g`);
      } catch (err) {
        throw proxyError('PRX_ERR_CONFIG_VALUE', `${at}/pattern "${r.pattern}"`, (err as Error).message);
      }
    }
    const aces = (r.match ?? []).map((m, j) => compileMatch(m, `${at}/match/${j}`));
    const firstSources = r.match?.[0]?.sources;
    return {
      index: i,
      stages: new Set(r.types.map((t) => STAGE_OF[t])),
      result: RESULT[r.action],
      test,
      global,
      replace: r.replace ?? null,
      aces,
      client: firstSources === undefined ? null : compileMatch({ sources: firstSources }, `${at}/match/0`),
      services: r.services === undefined ? null : new Set(r.services),
      exceptServices: new Set(r.exceptServices ?? []),
    };
  });
}

/** The rules a service takes part in (3proxy: the rules above the service line). */
export function rulesFor(rules: readonly Rule[], service: string): Rule[] {
  return rules.filter((r) => (r.services === null || r.services.has(service)) && !r.exceptServices.has(service));
}

/** 3proxy's replacement text: `$n` inserts group n (empty when there is none), `\x` is x. */
export function expand(replace: string, groups: readonly (string | undefined)[]): string {
  let out = '';
  for (let i = 0; i < replace.length; i++) {
    const c = replace[i]!;
    if (c === '\\' && i + 1 < replace.length) {
      out += replace[++i];
    } else if (c === '$' && /[0-9]/.test(replace[i + 1] ?? '')) {
      let j = i + 1;
      while (j < replace.length && /[0-9]/.test(replace[j]!)) j++;
      out += groups[Number(replace.slice(i + 1, j))] ?? '';
      i = j - 1;
    } else out += c;
  }
  return out;
}

/** One stage over the rules attached to a connection. */
export function runRules(rules: readonly Rule[], stage: BufferStage, session: Session, buf: FilterBuffer): FilterResult {
  let req: ReturnType<typeof aclRequest> | null = null;
  let text: string | null = null;
  for (const rule of rules) {
    if (!rule.stages.has(stage)) continue;
    if (rule.aces.length > 0) {
      req ??= aclRequest(session, Date.now());
      const r = req;
      if (!rule.aces.some((m) => m(r))) continue;
    }
    if (rule.test === null) {
      if (rule.result !== FilterResult.CONTINUE) return rule.result;
      continue;
    }
    text ??= buf.data.toString('latin1');
    if (rule.replace === null || !buf.resizable) {
      if (rule.test.test(text) && rule.result !== FilterResult.CONTINUE) return rule.result;
      continue;
    }
    let replaced = 0;
    const replace = rule.replace;
    const out: string = text.replace(rule.global!, (...m: unknown[]) => {
      replaced++;
      // replace()'s callback: match, groups..., offset, input[, named groups].
      const named = typeof m[m.length - 1] === 'object' ? 1 : 0;
      return expand(replace, m.slice(0, m.length - 2 - named) as (string | undefined)[]);
    });
    if (replaced === 0) continue;
    text = out;
    buf.data = Buffer.from(out, 'latin1');
    if (rule.result !== FilterResult.CONTINUE) return rule.result;
  }
  return FilterResult.CONTINUE;
}
