/**
 * `rx3proxy validate` and `rx3proxy schema CONFIG` load the config's plugins, so plugin
 * sections and operators validate, and a broken plugin is reported by name.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli';
import { runCli, startCli } from '../helpers/cli';

const KIT = join(__dirname, '..', 'fixtures', 'plugins', 'kit.js');
const THROWS = join(__dirname, '..', 'fixtures', 'plugins', 'throws.js');

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const w = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await main(args), out };
  } finally {
    w.mockRestore();
    e.mockRestore();
  }
}

function configFile(body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rx3-plugin-cli-')), 'proxy.yaml');
  writeFileSync(file, `version: 1\n${body}`);
  return file;
}

describe('cli with plugins', () => {
  it('validate accepts a plugin section and a plugin operator', async () => {
    const file = configFile(`plugins: [{ module: ${KIT} }]
kitSettings: { greeting: hi }
services:
  - { name: m, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:1, pipeline: [{ readRequest: { protocol: fixed } }, { kit.mark: {} }] }
`);
    expect(await cli(['validate', file])).toEqual({ code: 0, out: `${file}: ok\n` });
  });

  it('validate reports a plugin section error at its pointer', async () => {
    const file = configFile(`plugins: [{ module: ${KIT} }]\nkitSettings: { greeting: 5 }\n`);
    const r = await cli(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('/kitSettings/greeting');
  });

  it('validate names a plugin that fails to load', async () => {
    const file = configFile(`plugins: [{ module: ${THROWS} }]\n`);
    expect(await cli(['validate', file])).toEqual({ code: 1, out: `${file}:1:1: /plugins: plugin "thrower" failed to load: boom in setup\n` });
  });

  it('schema CONFIG includes plugin sections and operators', async () => {
    const file = configFile(`plugins: [{ module: ${KIT} }]\n`);
    const r = await cli(['schema', file]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out) as { properties: Record<string, unknown>; $defs: Record<string, unknown> };
    expect(schema.properties['kitSettings']).toBeDefined();
    expect(schema.$defs['operator.kit.mark']).toBeDefined();
    const plain = JSON.parse((await cli(['schema'])).out) as { properties: Record<string, unknown> };
    expect(plain.properties['kitSettings']).toBeUndefined();
  });
});

describe('rx3proxy run with plugins (real process)', () => {
  const ASYNC = join(__dirname, '..', 'fixtures', 'plugins', 'async-setup.js');
  const HANGS = join(__dirname, '..', 'fixtures', 'plugins', 'hangs.js');

  it('runs a plugin whose setup is asynchronous, and reloads it', async () => {
    const file = configFile(`plugins: [{ module: ${ASYNC} }]
services:
  - { name: m, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:1, pipeline: [{ readRequest: { protocol: fixed } }, { slowpoke.tag: {} }, { connect: {} }, { mapSockets: {} }, { log: {} }] }
`);
    const p = startCli([file]);
    try {
      await p.waitFor(/rx3proxy running/);
      p.child.kill('SIGHUP');
      // A reload loads the plugin again into fresh registries: no duplicate-name error.
      await p.waitFor(/configuration reloaded/);
    } finally {
      p.child.kill('SIGTERM');
      expect(await p.exited()).toBe(0);
    }
  });

  it('a plugin whose setup never settles stops startup after its timeout, naming it', async () => {
    const file = configFile(`plugins: [{ module: ${HANGS}, timeout: 300ms }]
services:
  - { name: m, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:1 }
`);
    const r = await runCli([file]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/sleeper|hangs\.js/);
    expect(r.stdout + r.stderr).toMatch(/did not finish within 300 ms/);
  });
});
