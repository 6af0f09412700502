/**
 * Every converted cfg-sample validates against the live schema. Service types that are not
 * built yet are the only problems allowed (they are listed, so the test tightens by itself as
 * templates land: a type that exists must validate cleanly).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { convertLegacy } from '../../config/convert';
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { loadPluginsSync, pluginEntries } from '../../core/plugin-loader';
import { silentLogger } from '../../core/logger';
import { LEGACY_PLUGINS } from '../../config/convert/plugin-commands';

/** A config that lists plugins (regex-filter for pcre lines) validates with their sections, as `rx3proxy validate` does. */
function schemaWithPlugins(config: unknown, file: string): ReturnType<typeof schemaFor> {
  // Only rx3proxy's own ports load here; native 3proxy libraries kept as entries never would.
  const entries = pluginEntries(config).filter((e) => LEGACY_PLUGINS.includes(e.module));
  if (entries.length === 0) return schema;
  const own = builtinRegistries();
  return schemaFor(own, loadPluginsSync(entries, file, own, silentLogger()));
}

/**
 * Flags whose features are not built yet: the schema refuses them (a config must not silently
 * lose a 3proxy flag), so a sample using them cannot validate until the feature lands.
 */
const NOT_BUILT_OPTIONS = new Set(['connectBack', 'connectBackListen', 'split', 'fakeAddresses']);

const DIR = path.resolve(__dirname, '../../../shared/reference/cfg-samples');
const reg = builtinRegistries();
const schema = schemaFor(reg);
const files = readdirSync(DIR).filter((f) => f.endsWith('.cfg') && !f.startsWith('col83') && !f.includes('passwd'));

describe('converted cfg-samples validate', () => {
  it('has samples to check', () => expect(files.length).toBeGreaterThan(60));

  it.each(files)('%s', (f) => {
    const file = path.join(DIR, f);
    const r = convertLegacy(readFileSync(file, 'utf8'), file, { readFile: () => undefined });
    expect(r.errors).toEqual([]);
    const services = ((r.config as { services?: { type: string }[] }).services ?? []);
    const missing = new Set(services.map((s) => s.type).filter((t) => !reg.templates.has(t)));
    const problems = validateValue(JSON.parse(JSON.stringify(r.config)), file, schemaWithPlugins(r.config, file)).filter((p) => {
      // A service of a type not built yet fails as a whole; nothing else may fail.
      const m = /^\/services\/(\d+)/.exec(p.pointer);
      if (m !== null && missing.has(services[Number(m[1])]!.type)) return false;
      const opt = /^\/services\/\d+\/options\/(\w+)$/.exec(p.pointer);
      return !(opt !== null && NOT_BUILT_OPTIONS.has(opt[1]!) && p.message.startsWith('unknown key'));
    });
    expect(problems).toEqual([]);
  });
});
