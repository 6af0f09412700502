/**
 * The converter's ftppr line: default port 21, -h (default server) and -u, validated against
 * the ftppr template's option schema.
 */
import { convertLegacy } from '../../config/convert';
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';

const schema = schemaFor(builtinRegistries());

describe('converted ftppr lines', () => {
  it('ftppr -h -u and a plain ftppr validate; default port 21', () => {
    const r = convertLegacy('auth none\nftppr -hftp.example.org:2121 -u\nftppr -p2100\n', 'ftp.cfg', { readFile: () => undefined });
    expect(r.errors).toEqual([]);
    const services = (r.config as { services: { type: string; listen: unknown; options?: Record<string, unknown> }[] }).services;
    expect(services.map((s) => s.type)).toEqual(['ftppr', 'ftppr']);
    expect(services[0]!.options).toMatchObject({ defaultHost: 'ftp.example.org:2121', userAuth: 'never' });
    expect(services[0]!.listen).toBe('0.0.0.0:21');
    expect(services[1]!.listen).toBe('0.0.0.0:2100');
    expect(validateValue(JSON.parse(JSON.stringify(r.config)), 'ftp.cfg', schema)).toEqual([]);
  });

  it('ftppr -x (a mail gateway flag) is reported and left out, as 3proxy ignores it there', () => {
    const r = convertLegacy('ftppr -x\n', 'ftp.cfg', { readFile: () => undefined });
    const services = (r.config as { services: { options?: Record<string, unknown> }[] }).services;
    expect(services[0]!.options?.['noStarttls']).toBeUndefined();
    expect(JSON.stringify(r.warnings)).toContain('-x');
    expect(validateValue(JSON.parse(JSON.stringify(r.config)), 'ftp.cfg', schema)).toEqual([]);
  });
});
