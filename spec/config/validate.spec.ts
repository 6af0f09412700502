import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblem, type ProxyError } from '../../core/errors';
import { parseConfigText, validateValue, loadConfigText } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { parseDuration, parseSize, parseRate } from '../../config/units';
import { parseListen } from '../../config/listen';

const schema = schemaFor(builtinRegistries());
const problemsOf = (text: string, file = 'c.yaml'): string[] => {
  const p = parseConfigText(text, file);
  const problems = p.problems.length > 0 ? p.problems : validateValue(p.value, file, schema, p.source);
  return problems.map(formatProblem);
};

describe('config validation', () => {
  it('reports every mistake with FILE:LINE:COL and a JSON pointer', () => {
    const text = [
      'version: 1',
      'accessLog: { to: stdout, colour: red }',
      'services:',
      '  - name: m',
      '    type: tcppm',
      '    listen: 127.0.0.1:0',
      '    target: 127.0.0.1:80',
      '    maxconn: -5',
      '  - name: n',
      '    type: nosuch',
      '    listen: 127.0.0.1:0',
      '',
    ].join('\n');
    expect(problemsOf(text)).toEqual([
      'c.yaml:2:26: /accessLog/colour: unknown key "colour"',
      'c.yaml:8:14: /services/0/maxconn: must be >= 1',
      expect.stringMatching(/^c\.yaml:10:11: \/services\/1\/type: must be one of: /),
    ]);
  });

  it('requires tcppm targets and rejects unknown service keys', () => {
    const text = 'version: 1\nservices:\n  - name: m\n    type: tcppm\n    listen: 1\n    tagret: x:1\n';
    const out = problemsOf(text);
    expect(out).toContain('c.yaml:6:5: /services/0/tagret: unknown key "tagret"');
    expect(out).toContain('c.yaml:3:5: /services/0: missing required key "target"');
  });

  it('reports YAML syntax errors with positions', () => {
    expect(problemsOf('version: 1\nservices: [\n')[0]).toMatch(/^c\.yaml:\d+:\d+: \/: /);
  });

  it('reports duplicate names and addresses', () => {
    const svc = (n: string): string => `  - { name: ${n}, type: tcppm, listen: "127.0.0.1:7001", target: "127.0.0.1:80" }\n`;
    const out = problemsOf(`version: 1\nservices:\n${svc('a')}${svc('a')}`);
    expect(out).toEqual([
      expect.stringMatching(/\/services\/1\/name: duplicate service name "a"/),
      expect.stringMatching(/\/services\/1\/listen: "127\.0\.0\.1:7001" is already used by \/services\/0/),
    ]);
  });

  it('applies defaults and freezes a valid config', () => {
    const loaded = loadConfigText('version: 1\nservices: []\nlog: {}\n', 'ok.yaml', schema);
    expect(loaded.config['log']).toEqual({ level: 'info', pretty: false, to: 'stderr' });
    expect(Object.isFrozen(loaded.config)).toBe(true);
    expect(() => loadConfigText('version: 2\n', 'bad.yaml', schema)).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_INVALID' }) as ProxyError);
  });

  it('accepts the shipped default config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-'));
    writeFileSync(join(dir, 'x.yaml'), 'version: 1\n');
    expect(problemsOf(readFileSync(join(__dirname, '../../config/default.yaml'), 'utf8'))).toEqual([]);
  });
});

describe('units', () => {
  it.each([
    ['10s', 10000],
    ['5m', 300000],
    ['1500ms', 1500],
    ['2h', 7200000],
    [3, 3000],
  ])('duration %p = %i ms', (v, ms) => expect(parseDuration(v)).toBe(ms));
  it.each([
    ['64KB', 65536],
    ['1MB', 1048576],
    ['1MiB', 1048576],
    [100, 100],
  ])('size %p = %i bytes', (v, b) => expect(parseSize(v)).toBe(b));
  it.each([
    [57600, 57600],
    ['1MB/s', 8388608],
    ['8Mbit/s', 8000000],
    ['8Mbps', 8000000],
    ['100kbit', 100000],
  ])('rate %p = %i bits/s', (v, b) => expect(parseRate(v)).toBe(b));
  it('rejects nonsense with PRX_ERR_CONFIG_VALUE', () => {
    expect(() => parseDuration('soon')).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }) as ProxyError);
    expect(() => parseSize('big')).toThrow(expect.objectContaining({ code: 'PRX_ERR_CONFIG_VALUE' }) as ProxyError);
  });
  it.each([
    ['3128', '0.0.0.0', 3128],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['[::1]:8080', '::1', 8080],
    ['localhost', 'localhost', 1080],
  ])('listen %p', (v, host, port) => expect(parseListen(v, 1080)).toMatchObject({ host, port }));
  it('listen unix:/path', () => expect(parseListen('unix:/tmp/x.sock', 0)).toMatchObject({ path: '/tmp/x.sock' }));
});
