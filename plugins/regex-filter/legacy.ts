/**
 * 3proxy.cfg -> `regexFilter:` (the converter calls this through the command's legacy hook).
 *
 *   pcre TYPES ACTION REGEX [ACE...]                  -> a rule
 *   pcre_rewrite TYPES ACTION REGEX REPLACE [ACE...]   -> a rule with `replace`
 *   pcre_extend ACE...                                 -> one more ACE on the last rule
 *   pcre_options OPT...                                -> flags of the rules that follow
 *
 * As in 3proxy a rule applies to the services whose lines come after it: each following
 * service lists the filter, and the services above it are named in `exceptServices`.
 */
import type { LegacyContext, LegacyTranslator } from '../../index';
import type { RuleAction, RuleSpec, RuleType } from './rules';

export const FILTER_NAME = 'regex-filter.pcre';

interface Section {
  rules: Record<string, unknown>[];
}

/** PCRE option names (PCRE1 and PCRE2 spellings) -> JavaScript RegExp flags. */
const FLAG_OF: Readonly<Record<string, string>> = {
  CASELESS: 'i',
  MULTILINE: 'm',
  DOTALL: 's',
  UTF8: 'u',
  UTF: 'u',
};
/** Options with no effect worth a warning (matching is the same without them). */
const HARMLESS = new Set(['NO_UTF8_CHECK', 'MATCH_INVALID_UTF', 'NO_AUTO_POSSESS', 'NO_START_OPTIMIZE', 'NO_DOTSTAR_ANCHOR', 'DUPNAMES']);

const TYPES: readonly RuleType[] = ['request', 'cliheader', 'srvheader', 'clidata', 'srvdata'];

/** 3proxy compares the first letters only (strncmp "allow", 5 ...), so `denylog` is deny. */
function actionOf(text: string): RuleAction | null {
  for (const a of ['allow', 'deny', 'remove', 'dunno'] as const) if (text.startsWith(a)) return a;
  return null;
}

/** 3proxy's parse-time escapes in a replacement: \r \n \0; `\\` leaves one backslash, others stay for run time. */
function unescapeReplacement(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = text[i + 1];
    if (n === 'r' || n === 'n' || n === '0') {
      out += n === 'r' ? '\r' : n === 'n' ? '\n' : '\0';
      i++;
    } else {
      if (n === '\\') i++;
      out += '\\';
    }
  }
  return out;
}

export function createTranslator(): LegacyTranslator {
  let flags = '';
  return {
    commands: ['pcre', 'pcre_rewrite', 'pcre_extend', 'pcre_options'],
    entries: ['pcre_plugin'],
    translate(args, ctx) {
      const section = (ctx.section ?? { rules: [] }) as Section;
      const cmd = args[0];
      if (cmd === 'pcre_options') {
        flags = '';
        for (const raw of args.slice(1)) {
          const name = raw.replace(/^PCRE2?_/, '');
          const f = FLAG_OF[name];
          if (f !== undefined) flags += flags.includes(f) ? '' : f;
          else if (!HARMLESS.has(name)) ctx.warn(`pcre_options ${raw} has no JavaScript RegExp equivalent and is ignored`);
        }
        return;
      }
      if (cmd === 'pcre_extend') {
        const last = section.rules[section.rules.length - 1];
        if (last === undefined) return ctx.fail('pcre_extend without a pcre rule before it');
        if (actionOf(args[1] ?? '') !== null) {
          ctx.warn(`pcre_extend takes an ACE only: 3proxy reads "${args[1] ?? ''}" as the user list, and so does this translation`);
        }
        const match = (last['match'] as Record<string, unknown>[] | undefined) ?? [{}];
        match.push(ctx.ace(args.slice(1)));
        last['match'] = match;
        ctx.section = section;
        return;
      }
      const rewrite = cmd === 'pcre_rewrite';
      const action = actionOf(args[2] ?? '');
      if (action === null) return ctx.fail(`${cmd ?? 'pcre'}: unknown action "${args[2] ?? ''}" (allow, deny, remove or dunno)`);
      const types = TYPES.filter((t) => (args[1] ?? '').includes(t));
      if (types.length === 0) ctx.fail(`${cmd ?? 'pcre'}: no known type in "${args[1] ?? ''}" (request, cliheader, srvheader, clidata, srvdata)`);
      const aceAt = rewrite ? 5 : 4;
      const rule: Record<string, unknown> = { types, action, pattern: args[3] ?? '*' };
      if (flags !== '') rule['flags'] = flags;
      if (rewrite) rule['replace'] = unescapeReplacement(args[4] ?? '');
      const ace = args.slice(aceAt);
      if (ace.length > 0) {
        const m = ctx.ace(ace);
        rule['match'] = [m];
      }
      if (ctx.servicesSoFar.length > 0) rule['exceptServices'] = [...ctx.servicesSoFar];
      section.rules.push(rule satisfies Partial<Record<keyof RuleSpec, unknown>>);
      ctx.section = section;
      ctx.attachFilter(FILTER_NAME);
    },
  };
}

export type { LegacyContext };
