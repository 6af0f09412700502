/**
 * Plugin loading failures: each broken plugin stops startup with an error naming it, or only
 * warns with `optional: true`; nothing of a failed plugin stays registered.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { ProxyError } from '../../core/errors';

const FILE = join(__dirname, '..', 'fixtures', 'plugins', 'test.yaml');

const config = (plugins: string, extra = ''): string => `
version: 1
accessLog: { to: none, format: json }
plugins:
${plugins}
${extra}
services: []
`;

async function loadError(yaml: string): Promise<ProxyError> {
  try {
    await Runtime.load(yaml, FILE, { logger: silentLogger() });
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected the load to fail');
}

describe('plugin loading failures', () => {
  it('a setup that throws gives PRX_ERR_PLUGIN_LOAD naming the plugin', async () => {
    const e = await loadError(config('  - module: ./throws.js'));
    expect(e.code).toBe('PRX_ERR_PLUGIN_LOAD');
    expect(e.message).toBe('plugin "thrower" failed to load: boom in setup');
  });

  it('a setup that never settles gives PRX_ERR_PLUGIN_TIMEOUT after the entry timeout', async () => {
    const e = await loadError(config('  - { module: ./hangs.js, timeout: 50ms }'));
    expect(e.code).toBe('PRX_ERR_PLUGIN_TIMEOUT');
    expect(e.message).toBe('plugin "sleeper" setup did not finish within 50 ms');
  });

  it('options that do not match the plugin schema give PRX_ERR_PLUGIN_INVALID', async () => {
    const e = await loadError(config('  - { module: ./needs-options.js, options: { count: many } }'));
    expect(e.code).toBe('PRX_ERR_PLUGIN_INVALID');
    expect(e.message).toContain('plugin "strict" is invalid: options/count must be integer');
    const missing = await loadError(config('  - { module: ./needs-options.js }'));
    expect(missing.message).toContain("must have required property 'count'");
  });

  it('a schema that is not a JSON Schema (options or a config section) gives PRX_ERR_PLUGIN_INVALID naming the plugin', async () => {
    const options = await loadError(config('  - module: ./bad-schema.js'));
    expect(options.code).toBe('PRX_ERR_PLUGIN_INVALID');
    expect(options.message).toMatch(/^plugin "badschema" is invalid: bad options schema: /);
    const section = await loadError(config('  - module: ./bad-section.js'));
    expect(section.code).toBe('PRX_ERR_PLUGIN_INVALID');
    expect(section.message).toMatch(/^plugin "badsection" is invalid: command: section "badSection": its schema is not a JSON Schema: schema\/type /);
  });

  it('name clashes give PRX_ERR_DUPLICATE_NAME naming the plugin', async () => {
    const op = await loadError(config('  - module: ./clash.js'));
    expect(op.code).toBe('PRX_ERR_DUPLICATE_NAME');
    expect(op.message).toBe('plugin "clash": duplicate operator name "clash.twice"');
    const section = await loadError(config('  - module: ./section-clash.js'));
    expect(section.message).toBe('plugin "grabber": duplicate config section name "users"');
    const twice = await loadError(config('  - module: ./kit.js\n  - module: ./kit.js'));
    expect(twice.code).toBe('PRX_ERR_DUPLICATE_NAME');
    expect(twice.message).toBe('duplicate plugin name "kit"');
  });

  it('a filter without open() is refused naming the plugin', async () => {
    const e = await loadError(config('  - module: ./bad-filter.js'));
    expect(e.code).toBe('PRX_ERR_PLUGIN_INVALID');
    expect(e.message).toBe('plugin "badfilter" is invalid: filter: expected { name, open, ...stages }');
  });

  it('a filter name registered twice is a clash naming the plugin', async () => {
    const e = await loadError(config('  - module: ./filter-clash.js'));
    expect(e.code).toBe('PRX_ERR_DUPLICATE_NAME');
    expect(e.message).toBe('plugin "fclash": duplicate filter name "fclash.twice"');
  });

  it('a service listing an unknown filter does not load, naming the service', async () => {
    const e = await loadError('version: 1\nservices:\n  - { name: w, type: proxy, listen: 127.0.0.1:0, filters: [nobody.here] }\n');
    expect(e.code).toBe('PRX_ERR_CONFIG_INVALID');
    expect(e.errors[0]!.message).toMatch(/service "w": .*filter.*nobody\.here/);
  });

  it('filters on a UDP service are refused, not ignored', async () => {
    const e = await loadError(config('  - module: ./kit.js', '') .replace('services: []', 'services:\n  - { name: u, type: udppm, listen: 127.0.0.1:0, target: 127.0.0.1:53, filters: [kit.trace] }'));
    expect(e.code).toBe('PRX_ERR_CONFIG_INVALID');
    expect(e.errors[0]!.message).toContain('plugin filters run on TCP services only');
  });

  it('a missing dependency gives PRX_ERR_PLUGIN_DEPENDENCY (order matters)', async () => {
    const e = await loadError(config('  - module: ./consumer.js\n  - module: ./kit.js'));
    expect(e.code).toBe('PRX_ERR_PLUGIN_DEPENDENCY');
    expect(e.message).toBe('plugin "consumer" needs plugin "kit", which is not loaded before it');
  });

  it('a module that is missing or not a plugin is named by its path', async () => {
    const missing = await loadError(config('  - module: ./nope.js'));
    expect(missing.code).toBe('PRX_ERR_PLUGIN_LOAD');
    expect(missing.message).toMatch(/^plugin "\.\/nope\.js" failed to load: Cannot find module/);
    const bad = await loadError(config('  - module: ./not-a-plugin.js'));
    expect(bad.code).toBe('PRX_ERR_PLUGIN_INVALID');
    expect(bad.message).toContain('plugin "./not-a-plugin.js" is invalid');
  });

  it('optional: true only warns, and the failed plugin leaves nothing registered', async () => {
    const warnings: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (warnings.push(chunk.toString()), cb()) });
    const rt = await Runtime.load(config('  - { module: ./throws.js, optional: true }'), FILE, { logger: pino({ level: 'warn' }, sink) });
    expect(rt.plugins.plugins).toEqual([]);
    expect(rt.env.operators.has('thrower.never')).toBe(false);
    expect(warnings.join('')).toContain('optional plugin not loaded');
    expect(warnings.join('')).toContain('boom in setup');
    await rt.stop(0);
  });

  it('loading the same config again (a reload) registers everything afresh, without clashes', async () => {
    const yaml = config('  - module: ./kit.js\n  - module: ./consumer.js');
    const first = await Runtime.load(yaml, FILE, { logger: silentLogger() });
    const second = await Runtime.load(yaml, FILE, { logger: silentLogger() });
    expect(second.env.operators.has('kit.mark')).toBe(true);
    expect(second.env.symbols.get('kit.seen')).not.toBe(first.env.symbols.get('kit.seen'));
    await Promise.all([first.stop(0), second.stop(0)]);
  });

  it('the api refuses calls after setup finished', async () => {
    const rt = await Runtime.load(config('  - module: ./late.js'), FILE, { logger: silentLogger() });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const late = require('../fixtures/plugins/late.js') as { api: { schedule(e: string, f: () => void): void } };
    expect(() => late.api.schedule('hourly', () => undefined)).toThrow(/plugin "late" is invalid: schedule called after setup finished/);
    await rt.stop(0);
  });

  it('the synchronous constructors load synchronous plugins and refuse asynchronous setups', async () => {
    const rt = Runtime.fromText(config('  - module: ./kit.js'), FILE, { logger: silentLogger() });
    expect(rt.env.operators.has('kit.mark')).toBe(true);
    await rt.stop(0);
    let err: unknown = null;
    try {
      Runtime.fromText(config('  - module: ./kit.js\n  - module: ./consumer.js'), FILE, { logger: silentLogger() });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'PRX_ERR_PLUGIN_LOAD', message: expect.stringMatching(/^plugin "consumer" failed to load: its setup is asynchronous/) as unknown });
    expect(() => Runtime.fromText(config('  - module: ./throws.js'), FILE, { logger: silentLogger() })).toThrow('plugin "thrower" failed to load: boom in setup');
  });

  it('a plugin command section is unknown without the plugin and validated with it', async () => {
    const bad = await loadError(config('  - module: ./kit.js', 'kitSettings: { greeting: 5 }'));
    expect(bad.code).toBe('PRX_ERR_CONFIG_INVALID');
    expect(bad.errors.map((p) => p.pointer)).toContain('/kitSettings/greeting');
    const unknown = await loadError(config('  - module: ./consumer.js\n    optional: true', 'kitSettings: { greeting: hi }'));
    expect(unknown.code).toBe('PRX_ERR_CONFIG_INVALID');
  });
});
