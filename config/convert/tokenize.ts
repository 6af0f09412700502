/**
 * 3proxy's config lexer (conf.c `readconfig` + `parsestr`), re-modelled.
 *
 * - A line that is empty, starts with whitespace or starts with `#` is a comment; a `#` later
 *   in a line is an ordinary character.
 * - Arguments are separated by space, tab, CR, LF. `"` toggles quoting; inside quotes `""` is a
 *   literal quote, so `"-""+_L%t"` is the argument `-"+_L%t`. Quotes may open mid-argument.
 * - Outside quotes, `$path` (or `$"path with spaces"`) is replaced by the contents of that file,
 *   read as arguments (newlines act as spaces). Text glued before the `$` is glued to the
 *   file's first argument. Inside the included text `$` does not include again: at the start of
 *   an argument it is dropped, elsewhere it is kept (so unquoted `u:CR:$1$...` lines work there).
 * - There is no line continuation: a quote cannot span lines, and an unclosed quote is
 *   3proxy's "Parse error".
 *
 * Including is split in two steps so a command can keep a `$file` as a reference
 * (`users $/etc/3proxy/passwd` becomes `usersFiles:`): `tokenizeLine` returns include tokens,
 * `expandIncludes` reads them.
 */

/** A plain argument, or a `$file` include (with the text glued in front of it). */
export type RawToken = { readonly text: string } | { readonly include: string; readonly prefix: string };

/** One config line that is not a comment. */
export interface ConfigLine {
  readonly line: number;
  readonly text: string;
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** Lines 3proxy would parse: skips empty lines, comment lines and lines starting with whitespace. */
export function commandLines(text: string): ConfigLine[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const out: ConfigLine[] = [];
  body.split('\n').forEach((raw, i) => {
    const first = raw.charAt(0);
    if (first === '' || first === '#' || /\s/.test(first)) return;
    out.push({ line: i + 1, text: raw });
  });
  return out;
}

/** Mutable lexer state for one string. */
class Lexer {
  readonly tokens: RawToken[] = [];
  private cur: string | null = null;
  private quoted = false;
  /** `$` seen: characters go to `path` until whitespace. `prefix` is the glued argument. */
  private path: string | null = null;
  private prefix: string | null = null;

  constructor(private readonly included: boolean) {}

  run(input: string): RawToken[] | null {
    for (let i = 0; i < input.length; i++) {
      const c = input.charAt(i);
      if (c === '"') {
        i = this.quote(input, i);
        continue;
      }
      if (this.quoted) this.append(c);
      else if (isBlank(c)) this.finish();
      else if (c === '$') this.dollar();
      else this.append(c);
    }
    if (this.quoted) return null;
    this.finish();
    return this.tokens;
  }

  /** Handles a `"` at `i`; returns the index of the last character consumed. */
  private quote(input: string, i: number): number {
    if (!this.quoted) {
      this.quoted = true;
      // `""` opening an argument is an empty quoted string; start the argument now.
      if (this.path === null && this.cur === null) this.cur = '';
      return i;
    }
    if (input.charAt(i + 1) === '"') {
      this.append('"');
      return i + 1;
    }
    this.quoted = false;
    return i;
  }

  private dollar(): void {
    if (this.included) {
      // No nested includes: a leading `$` is dropped, an inner one kept (3proxy quirk).
      if (this.cur !== null) this.cur += '$';
      return;
    }
    if (this.path !== null) {
      // `$a$b`: the text so far is glued in front of file b.
      if (this.prefix === null && this.path !== '') this.prefix = this.path;
      this.path = '';
      return;
    }
    this.prefix = this.cur;
    this.cur = null;
    this.path = '';
  }

  private append(c: string): void {
    if (this.path !== null) this.path += c;
    else this.cur = (this.cur ?? '') + c;
  }

  private finish(): void {
    if (this.path !== null) {
      this.tokens.push({ include: this.path, prefix: this.prefix ?? '' });
      this.path = null;
      this.prefix = null;
      return;
    }
    if (this.cur !== null) this.tokens.push({ text: this.cur });
    this.cur = null;
  }
}

/** Splits one line (or an included file's text) into arguments; null on an unclosed quote. */
export function tokenizeLine(input: string, included = false): RawToken[] | null {
  return new Lexer(included).run(input);
}

/** Outcome of reading a `$file`. */
export interface IncludeProblem {
  readonly path: string;
  readonly reason: 'unreadable' | 'unclosed-quote';
}

/**
 * Replaces include tokens by the arguments read from their files. A file that cannot be read
 * drops the argument, as 3proxy does (it prints "Failed to open" and goes on); the caller
 * reports it.
 */
export function expandIncludes(
  tokens: readonly RawToken[],
  read: (path: string) => string | undefined,
): { args: string[]; problems: IncludeProblem[] } {
  const args: string[] = [];
  const problems: IncludeProblem[] = [];
  for (const t of tokens) {
    if ('text' in t) {
      args.push(t.text);
      continue;
    }
    const content = read(t.include);
    if (content === undefined) {
      problems.push({ path: t.include, reason: 'unreadable' });
      continue;
    }
    const inner = tokenizeLine(t.prefix + content, true);
    if (inner === null) {
      problems.push({ path: t.include, reason: 'unclosed-quote' });
      continue;
    }
    for (const x of inner) if ('text' in x) args.push(x.text);
  }
  return { args, problems };
}
