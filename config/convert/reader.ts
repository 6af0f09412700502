/**
 * Runs a 3proxy config as a script (conf.c `readconfig`): line by line, tokenize, expand
 * `$file`s, then dispatch on the command table. `end` stops the current file, `writable` is
 * reported, `include FILE` runs FILE recursively.
 *
 * 3proxy stops at the first bad line; the converter reports it with 3proxy's wording and goes
 * on, so one run lists every problem. Lines that are template text (`{{ x }}`, `{% %}`,
 * `@VAR@`, `_var_`, an unset `$VAR`) did not come from 3proxy's grammar at all: when such a
 * line fails, it is a warning ("render the template first"), not an error.
 */
import * as path from 'node:path';
import { ProxyError } from '../../core/errors';
import { lookup } from './commands';
import type { ConvertState } from './state';
import { commandLines, expandIncludes, tokenizeLine } from './tokenize';
import type { IncludeProblem, RawToken } from './tokenize';

export type ReadFile = (file: string) => string | undefined;

const MAX_DEPTH = 16;

/** Template syntax that breaks 3proxy's tokens apart: such a line is never converted. */
const BLOCK_TEMPLATE = [/^(?:\.\.\.|\u2026)\s*$/, /\{\{.*?\}\}|\{\{|\}\}/, /\{%.*?%\}|\{%/, /\{#/];
/** Placeholders inside one argument (`@PORT@`, `_maxconn_`): converted as written if valid. */
const INLINE_TEMPLATE = [/@[A-Za-z_][A-Za-z0-9_]*@/, /(?:^|\s)(_[A-Za-z][A-Za-z0-9_]*_)(?=\s|$)/];

export interface Placeholder {
  readonly text: string;
  readonly block: boolean;
}

/** The template placeholder in a line, if any (an unreadable `$NAME` counts as one). */
export function placeholderIn(text: string, problems: readonly IncludeProblem[]): Placeholder | undefined {
  for (const re of BLOCK_TEMPLATE) {
    const m = re.exec(text);
    if (m !== null) return { text: m[0].trim(), block: true };
  }
  for (const re of INLINE_TEMPLATE) {
    const m = re.exec(text);
    if (m !== null) return { text: (m[1] ?? m[0]).trim(), block: false };
  }
  const env = problems.find((p) => /^[A-Z_][A-Z0-9_]*$/.test(p.path));
  return env === undefined ? undefined : { text: `$${env.path}`, block: false };
}

export class ScriptReader {
  constructor(
    private readonly st: ConvertState,
    private readonly readFile: ReadFile,
  ) {}

  /**
   * Reads `text` as config file `shown` (the name diagnostics use) found at `full` (what
   * relative `include`/`$file` paths resolve against); `depth` guards against include loops.
   */
  run(text: string, shown: string, full: string = path.resolve(shown), depth = 0): void {
    for (const { line, text: raw } of commandLines(text)) {
      this.st.src = { file: shown, line, text: raw.replace(/\r$/, '').trimEnd() };
      if (this.line(raw, full, depth) === 'end') return;
    }
  }

  private resolve(file: string, target: string): string {
    return path.resolve(path.dirname(file), target);
  }

  /** Tokenizes a line and expands its `$file`s (a `keepFiles` command keeps whole-argument ones). */
  private expand(tokens: readonly RawToken[], file: string): { args: string[]; kept: string[]; problems: IncludeProblem[] } {
    const first = tokens[0];
    const def = first !== undefined && 'text' in first ? lookup(first.text, this.st) : undefined;
    const kept = new Set(def?.keepFiles === true ? tokens.filter((t) => 'include' in t && t.prefix === '') : []);
    const { args, problems } = expandIncludes(
      tokens.filter((t) => !kept.has(t)),
      (p) => this.readFile(this.resolve(file, p)),
    );
    return { args, kept: [...kept].map((t) => ('include' in t ? t.include : '')), problems };
  }

  private line(raw: string, file: string, depth: number): 'end' | undefined {
    const st = this.st;
    const tokens = tokenizeLine(raw);
    if (tokens === null) return this.failed('Parse error (unclosed quote)', []);
    const { args, kept, problems } = this.expand(tokens, file);
    const placeholder = placeholderIn(st.src.text, problems);
    if (placeholder === undefined) {
      for (const p of problems) {
        const why = p.reason === 'unreadable' ? 'cannot be read' : 'has an unclosed quote';
        st.warn('PRXWRN007', `$${p.path} ${why}: 3proxy drops this argument and goes on, and so does this conversion`);
      }
    }
    if (placeholder?.block === true) return this.failed('', problems);
    if (args.length === 0) return this.failed('Parse error (no command on this line)', problems);
    const name = args[0] ?? '';
    if (name === 'end' && args.length === 1) return 'end';
    if (name === 'writable' && args.length === 1) {
      st.warn('PRXWRN004', 'writable: the admin service does not rewrite the config file');
      return undefined;
    }
    if (name === 'include' && args.length === 2) return this.include(args[1] ?? '', file, depth, problems);
    if (this.dispatch(args, kept, problems) && placeholder !== undefined) {
      st.warn('PRXWRN007', `template placeholder ${placeholder.text} in this line; converted as written`);
    }
    return undefined;
  }

  /** Runs the table entry for `args[0]`; false when the line was refused. */
  private dispatch(args: readonly string[], kept: readonly string[], problems: readonly IncludeProblem[]): boolean {
    const name = args[0] ?? '';
    const def = name === 'include' ? undefined : lookup(name, this.st);
    const count = args.length + kept.length;
    if (def === undefined || count < def.min || (def.max !== 0 && count > def.max)) {
      let why = def === undefined ? '' : ` (${count - 1} argument(s) do not fit this command)`;
      if (def === undefined && /^[^:\s]+:(CL|CR|NT):/.test(name)) why = ' (a password entry needs "users" in front of it)';
      this.failed(`Unknown command: '${name}'${why}`, problems);
      return false;
    }
    try {
      def.run(this.st, args, { files: kept });
      return true;
    } catch (err) {
      if (!(err instanceof ProxyError) || err.code !== 'PRX_ERR_CONVERT') throw err;
      this.failed(err.message, problems);
      return false;
    }
  }

  private include(target: string, file: string, depth: number, problems: readonly IncludeProblem[]): undefined {
    const st = this.st;
    if (depth >= MAX_DEPTH) return this.failed(`include ${target}: nested more than ${MAX_DEPTH} levels deep`, problems);
    const full = this.resolve(file, target);
    const text = this.readFile(full);
    if (text === undefined) {
      // 3proxy fails here ("Unable to open included file"), but the file usually exists only on
      // the machine the config was written for; converting elsewhere must still work.
      st.warn('PRXWRN007', `include ${target}: cannot read the file here; its commands are NOT converted (3proxy would stop if it is missing)`);
      return undefined;
    }
    const here = st.src;
    this.run(text, target, full, depth + 1);
    st.src = here;
    return undefined;
  }

  /** A line 3proxy refuses: an error, or a warning when it is unrendered template text. */
  private failed(message: string, problems: readonly IncludeProblem[]): undefined {
    const st = this.st;
    const placeholder = placeholderIn(st.src.text, problems);
    if (placeholder !== undefined) {
      st.warn('PRXWRN007', `template placeholder ${placeholder.text}: line not converted (render the template first)${message === '' ? '' : `: ${message}`}`);
    } else {
      st.errors.push({ file: st.src.file, line: st.src.line, message });
    }
    return undefined;
  }
}
