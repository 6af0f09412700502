import { commandLines, expandIncludes, tokenizeLine } from '../../config/convert/tokenize';
import type { RawToken } from '../../config/convert/tokenize';

const texts = (tokens: RawToken[] | null): (string | { include: string; prefix: string })[] | null =>
  tokens === null ? null : tokens.map((t) => ('text' in t ? t.text : { include: t.include, prefix: t.prefix }));

describe('tokenizeLine (3proxy parsestr rules)', () => {
  it.each([
    ['spaces, tabs and CR separate arguments', 'allow  *\t* \r\n', ['allow', '*', '*']],
    ['quotes group an argument', 'users "a b" c', ['users', 'a b', 'c']],
    ['"" inside quotes is a literal quote', 'x "a ""b"""', ['x', 'a "b"']],
    ["3proxy's documented filter prefix", 'logformat "-""+_L%t %U"', ['logformat', '-"+_L%t %U']],
    ['a quote may open mid-argument', 'x ab"c d"e', ['x', 'abc de']],
    ['"" alone is an empty argument', 'x "" y', ['x', '', 'y']],
    ['# in the middle of a line is an ordinary character', 'allow * # x', ['allow', '*', '#', 'x']],
    ['$ inside quotes is literal', 'users "u:CR:$1$salt$hash"', ['users', 'u:CR:$1$salt$hash']],
  ])('%s', (_what, line, expected) => {
    expect(texts(tokenizeLine(line))).toEqual(expected);
  });

  it.each([
    ['a whole-argument $file', 'users $/etc/passwd', ['users', { include: '/etc/passwd', prefix: '' }]],
    ['text glued before the $', 'allow * * 10.0.0.0/8,$nets', ['allow', '*', '*', { include: 'nets', prefix: '10.0.0.0/8,' }]],
    ['a quoted path', 'allow * * $"my nets.txt" 80', ['allow', '*', '*', { include: 'my nets.txt', prefix: '' }, '80']],
    ['$a$b: text before the second $ is glued to file b', 'x $a$b', ['x', { include: 'b', prefix: 'a' }]],
  ])('records includes: %s', (_what, line, expected) => {
    expect(texts(tokenizeLine(line))).toEqual(expected);
  });

  it('returns null for an unclosed quote (3proxy "Parse error")', () => {
    expect(tokenizeLine('logformat "abc')).toBeNull();
  });

  it('in included text, a leading $ is dropped and an inner one kept', () => {
    expect(texts(tokenizeLine('$abc u:CR:$1$x$y\nnext', true))).toEqual(['abc', 'u:CR:$1$x$y', 'next']);
  });
});

describe('commandLines', () => {
  it('skips empty lines, # comments and lines starting with whitespace, keeping line numbers', () => {
    const text = '\uFEFFnserver 1.1.1.1\n# comment\n\n  proxy -p1\n\tsocks\nflush\r\n';
    expect(commandLines(text)).toEqual([
      { line: 1, text: 'nserver 1.1.1.1' },
      { line: 6, text: 'flush\r' },
    ]);
  });
});

describe('expandIncludes', () => {
  const files: Record<string, string> = { nets: '10.0.0.0/8,\n192.168.0.0/16 "quoted arg"\n', empty: '', bad: '"open' };
  const read = (p: string): string | undefined => files[p];

  it('replaces an include by the arguments in the file (newlines separate)', () => {
    const tokens = tokenizeLine('allow * * $nets 80') ?? [];
    expect(expandIncludes(tokens, read)).toEqual({ args: ['allow', '*', '*', '10.0.0.0/8,', '192.168.0.0/16', 'quoted arg', '80'], problems: [] });
  });

  it('glues the prefix to the first argument of the file', () => {
    const tokens = tokenizeLine('allow * * 1.2.3.4,$nets') ?? [];
    expect(expandIncludes(tokens, read).args).toEqual(['allow', '*', '*', '1.2.3.4,10.0.0.0/8,', '192.168.0.0/16', 'quoted arg']);
  });

  it('drops the argument of an unreadable file and reports it, as 3proxy goes on', () => {
    const tokens = tokenizeLine('allow * * $missing 80') ?? [];
    expect(expandIncludes(tokens, read)).toEqual({ args: ['allow', '*', '*', '80'], problems: [{ path: 'missing', reason: 'unreadable' }] });
  });

  it('reports an unclosed quote inside the file', () => {
    const tokens = tokenizeLine('allow $bad') ?? [];
    expect(expandIncludes(tokens, read).problems).toEqual([{ path: 'bad', reason: 'unclosed-quote' }]);
  });
});
