/**
 * The converter's pop3p/smtpp/imapp lines (with the mail flags -h and -x, and -u) validate
 * against the templates' option schemas and keep what the flags said.
 */
import { convertLegacy } from '../../config/convert';
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';

const schema = schemaFor(builtinRegistries());

describe('converted mail gateway lines', () => {
  it.each([
    ['pop3p', 110],
    ['smtpp', 587],
    ['imapp', 143],
  ])('%s -h -x -u validates, default port %s', (type, port) => {
    const r = convertLegacy(`auth none\n${type} -hmail.example.org:2525 -x -u\n${type} -p1${port}\n`, 'mail.cfg', { readFile: () => undefined });
    expect(r.errors).toEqual([]);
    const services = (r.config as { services: { type: string; listen: unknown; options?: Record<string, unknown> }[] }).services;
    expect(services.map((s) => s.type)).toEqual([type, type]);
    expect(services[0]!.options).toMatchObject({ defaultHost: 'mail.example.org:2525', noStarttls: true, userAuth: 'never' });
    expect(JSON.stringify(services[0]!.listen)).toContain(String(port));
    expect(validateValue(JSON.parse(JSON.stringify(r.config)), 'mail.cfg', schema)).toEqual([]);
  });

  it('refuses an option the templates do not have', () => {
    const r = convertLegacy('pop3p\n', 'mail.cfg', { readFile: () => undefined });
    const config = JSON.parse(JSON.stringify(r.config)) as { services: { options?: Record<string, unknown> }[] };
    config.services[0]!.options = { starttls: 'pop3' };
    expect(validateValue(config, 'mail.cfg', schema).map((p) => p.pointer)).toContain('/services/0/options/starttls');
  });
});
