/**
 * Plugin commands in the converter: the shipped regex-filter plugin translates pcre,
 * pcre_rewrite, pcre_extend and pcre_options itself (its command's legacy translator), the
 * `plugin PCREPlugin pcre_plugin` line becomes its `plugins:` entry, and the converted config
 * loads and filters like 3proxy would.
 */
import { convertText, codesAt, errorLines } from './helpers';
import { curl } from '../helpers/clients';
import { httpServer, type Fixture } from '../helpers/servers';
import { startProxy } from '../helpers/proxy';
import { stringify } from 'yaml';
import { join } from 'node:path';
import { convertLegacy } from '../../config/convert';

describe('converter: regex-filter commands', () => {
  it('pcre lines become regexFilter rules; services after them list the filter', () => {
    const r = convertText(
      [
        'plugin PCREPlugin.dll pcre_plugin',
        'proxy -p3128',
        'pcre_options PCRE_CASELESS PCRE2_DOTALL',
        'pcre request,cliheader denylog "ads\\.example" alice,bob 10.0.0.0/8 * 80,8080',
        'pcre_extend * 192.168.0.0/16',
        'pcre_rewrite srvheader dunno "Server: [^\\r\\n]*" "Server: hidden\\r\\nX-Note: $1"',
        'pcre clidata allow *',
        'proxy -p8080',
      ].join('\n'),
    );
    expect(errorLines(r)).toEqual([]);
    expect(codesAt(r)).toEqual([]);
    expect(r.config['plugins']).toEqual([{ module: 'regex-filter' }]);
    expect(r.config['regexFilter']).toEqual({
      rules: [
        {
          types: ['request', 'cliheader'],
          action: 'deny',
          pattern: 'ads\\.example',
          flags: 'is',
          match: [{ users: ['alice', 'bob'], sources: ['10.0.0.0/8'], ports: [80, 8080] }, { sources: ['192.168.0.0/16'] }],
          exceptServices: ['proxy-3128'],
        },
        { types: ['srvheader'], action: 'dunno', pattern: 'Server: [^\\r\\n]*', flags: 'is', replace: 'Server: hidden\r\nX-Note: $1', exceptServices: ['proxy-3128'] },
        { types: ['clidata'], action: 'allow', pattern: '*', flags: 'is', exceptServices: ['proxy-3128'] },
      ],
    });
    const services = r.config['services'] as { name: string; filters?: string[] }[];
    expect(services.map((s) => s.filters)).toEqual([undefined, ['regex-filter.pcre']]);
    expect(r.yaml).toContain('# test.cfg:4: pcre request,cliheader denylog');
  });

  it('pcre works without a plugin line (3proxy 0.9 has PCRE built in); pcre_options resets and warns on flags JS lacks', () => {
    const r = convertText('pcre_options PCRE_UNGREEDY\npcre request deny x\nproxy');
    expect(r.config['plugins']).toEqual([{ module: 'regex-filter' }]);
    expect(r.warnings.map((w) => `${w.line}: ${w.message}`)).toEqual(['1: pcre_options PCRE_UNGREEDY has no JavaScript RegExp equivalent and is ignored']);
    expect((r.config['regexFilter'] as { rules: Record<string, unknown>[] }).rules[0]).toEqual({ types: ['request'], action: 'deny', pattern: 'x' });
  });

  it('pcre_extend reads an ACE from its first argument, as 3proxy code does; an action word there is warned about', () => {
    const r = convertText('pcre request deny x\npcre_extend deny * 192.168.0.0/16\nproxy');
    expect((r.config['regexFilter'] as { rules: { match: unknown }[] }).rules[0]!.match).toEqual([{}, { users: ['deny'], targets: ['192.168.0.0/16'] }]);
    expect(r.warnings.map((w) => `${w.line}: ${w.message}`)).toEqual(['2: pcre_extend takes an ACE only: 3proxy reads "deny" as the user list, and so does this translation']);
  });

  it.each([
    ['pcre_extend alice', 'pcre_extend without a pcre rule before it'],
    ['pcre request block x', 'unknown action "block"'],
    ['pcre headers deny x', 'no known type in "headers"'],
    ['pcre request deny x * 10.0.0.300', 'Invalid IP'],
  ])('%s is refused as 3proxy refuses it', (line, message) => {
    const r = convertText(line);
    expect(errorLines(r).join('\n')).toContain(message);
  });

  it('other 3proxy plugins still warn clearly, and their commands are unknown without them', () => {
    const native = convertText('plugin TrafficPlugin.so start\ntrafcorrect m proxy 80 1.2');
    expect(native.warnings.map((w) => w.message).join('\n')).toMatch(/native 3proxy library.*rx3proxy port of "start"/);
    expect(codesAt(native)).toEqual(['PRXWRN007@1', 'PRXWRN004@2']);
    expect(errorLines(convertText('trafcorrect m proxy 80 1.2')).join('\n')).toContain("Unknown command: 'trafcorrect'");
  });
});

describe('converter: a third-party plugin translator (ConvertOptions.plugins)', () => {
  const KIT = join(__dirname, '..', 'fixtures', 'plugins', 'kit.js');

  it("the kit fixture's command translates its own line; without the plugin it is an unknown command", () => {
    const r = convertLegacy('proxy -p1\nkitgreeting hello world\nkitgreeting hi\nproxy -p2\n', 'k.cfg', { plugins: [KIT] });
    expect(errorLines(r)).toEqual([]);
    expect(r.warnings.map((w) => `${w.line}: ${w.message}`)).toEqual(['3: kitgreeting repeated: the last one wins']);
    expect(r.config['kitSettings']).toEqual({ greeting: 'hi' });
    expect(r.config['plugins']).toEqual([{ module: KIT }]);
    expect((r.config['services'] as { filters?: string[] }[]).map((s) => s.filters)).toEqual([undefined, ['kit.trace']]);
    expect(errorLines(convertLegacy('kitgreeting\n', 'k.cfg', { plugins: [KIT] }))).toEqual(['k.cfg:1: kitgreeting needs a text']);
    expect(errorLines(convertText('kitgreeting hello')).join('\n')).toContain("Unknown command: 'kitgreeting'");
  });
});

describe('converter: a converted pcre config runs', () => {
  let web: Fixture;
  beforeAll(async () => {
    web = await httpServer();
  });
  afterAll(async () => {
    await web.close();
  });

  it('denies what the pcre rule denies and rewrites what pcre_rewrite rewrites', async () => {
    const r = convertText(
      [
        'log /dev/null',
        'pcre request deny "/bytes/"',
        'pcre_rewrite cliheader dunno "User-Agent: [^\\r\\n]*" "User-Agent: converted"',
        'proxy -i127.0.0.1 -p0',
      ].join('\n'),
    );
    expect(errorLines(r)).toEqual([]);
    const config = r.config as { services: Record<string, unknown>[]; accessLog?: unknown };
    config.services[0]!['listen'] = '127.0.0.1:0';
    config.accessLog = { to: 'none', format: 'json' };
    const proxy = await startProxy(stringify(config));
    try {
      const port = proxy.ports[config.services[0]!['name'] as string]!;
      const via = ['-x', `http://127.0.0.1:${port}`];
      const denied = await curl([...via, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/bytes/4`]);
      expect(denied.stdout).toBe('503');
      const seen = JSON.parse((await curl([...via, `http://127.0.0.1:${web.port}/headers`])).stdout) as Record<string, string>;
      expect(seen['user-agent']).toBe('converted');
    } finally {
      await proxy.stop();
    }
  });
});
