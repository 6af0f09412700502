/**
 * The converter's tlspr and dnspr flags (-c, -X, -P, -s) and the mail gateways' -P: each
 * becomes its option, and the converted config validates against the live templates.
 */
import { convertLegacy } from '../../config/convert';
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';

const schema = schemaFor(builtinRegistries());

interface Converted {
  readonly errors: readonly unknown[];
  readonly warnings: readonly { code: string }[];
  readonly services: { type: string; options?: Record<string, unknown> }[];
  readonly config: unknown;
}

function convert(text: string): Converted {
  const r = convertLegacy(`auth none\n${text}\n`, 'tls.cfg', { readFile: () => undefined });
  const config = JSON.parse(JSON.stringify(r.config)) as { services?: Converted['services'] };
  return { errors: r.errors, warnings: r.warnings as readonly { code: string }[], services: config.services ?? [], config };
}

describe('converted tlspr, dnspr and gateway TLS flags', () => {
  it.each([
    ['tlspr -p1465 -c3 -Xsmtp -P25 -s', 'tlspr', { tlsCheck: 3, starttls: 'smtp', tlsPort: 25, split: true }],
    ['tlspr -c0 -Ximap', 'tlspr', { tlsCheck: 0, starttls: 'imap' }],
    ['tlspr -c4 -Xpop3 -P110', 'tlspr', { tlsCheck: 4, starttls: 'pop3', tlsPort: 110 }],
    ['dnspr -s', 'dnspr', { simple: true }],
    ['pop3p -P995', 'pop3p', { tlsPort: 995 }],
    ['imapp -P1143 -x', 'imapp', { tlsPort: 1143, noStarttls: true }],
    ['smtpp -P2525', 'smtpp', { tlsPort: 2525 }],
  ])('%s', (line, type, options) => {
    const r = convert(line);
    expect(r.errors).toEqual([]);
    expect(r.services[0]).toMatchObject({ type, options });
    expect(validateValue(r.config, 'tls.cfg', schema)).toEqual([]);
  });

  it('caps -c above 4 with a warning', () => {
    const r = convert('tlspr -c7');
    expect(r.services[0]!.options).toMatchObject({ tlsCheck: 4 });
    expect(r.warnings.map((w) => w.code)).toContain('PRXWRN004');
    expect(validateValue(r.config, 'tls.cfg', schema)).toEqual([]);
  });

  it('refuses a STARTTLS mode 3proxy does not have, as 3proxy refuses to start the service', () => {
    expect(convert('tlspr -Xftp').errors).not.toEqual([]);
  });

  it('the schema refuses starttls on a service that has no STARTTLS mode', () => {
    const r = convert('dnspr');
    (r.services[0] as { options?: Record<string, unknown> }).options = { starttls: 'imap' };
    expect(validateValue(r.config, 'tls.cfg', schema).map((p) => p.pointer)).toContain('/services/0/options/starttls');
  });
});
