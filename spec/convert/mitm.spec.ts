/**
 * 3proxy's MITM commands -> `mitm:` on the proxy services that follow (3proxy ssl_plugin
 * semantics: ssl_mitm switches interception on for later services, ssl_nomitm off; the CA is
 * ssl_server_ca_file/ssl_server_ca_key or 3proxy.pem/3proxy.key in ssl_certcache; origins are
 * verified only with ssl_client_verify).
 */
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { convertText, errorLines } from './helpers';

const svc = (text: string): Record<string, unknown>[] => (convertText(text).config as { services: Record<string, unknown>[] }).services;
const warnings = (text: string): string => convertText(text).warnings.map((w) => w.message).join('\n');

describe('converter: ssl_mitm', () => {
  it('translates the CA, the cache directory and origin verification, and only for later services', () => {
    const text = [
      'proxy -p3127',
      'ssl_server_ca_file /etc/3proxy/ca.pem',
      'ssl_server_ca_key /etc/3proxy/ca.key',
      'ssl_certcache /var/cache/3proxy/',
      'ssl_client_verify',
      'ssl_client_ca_file /etc/ssl/origins.pem',
      'ssl_mitm',
      'proxy -p3128',
      'ssl_nomitm',
      'proxy -p3129',
    ].join('\n');
    const r = convertText(text);
    expect(errorLines(r)).toEqual([]);
    const [before, mitm, after] = svc(text);
    expect(before!['mitm']).toBeUndefined();
    expect(mitm!['mitm']).toEqual({
      ca: { cert: '/etc/3proxy/ca.pem', key: '/etc/3proxy/ca.key' },
      cacheDir: '/var/cache/3proxy',
      origin: { ca: '/etc/ssl/origins.pem' },
    });
    expect(after!['mitm']).toBeUndefined();
    // What the converter writes is a config the schema accepts.
    const problems = validateValue(JSON.parse(JSON.stringify(r.config)), 'out.yaml', schemaFor(builtinRegistries()));
    expect(problems).toEqual([]);
  });

  it('takes the CA from the cache directory as 3proxy does, and keeps 3proxy\'s unverified origins with a warning', () => {
    const text = 'ssl_certcache /certs/\nssl_mitm\nproxy';
    expect(svc(text)[0]!['mitm']).toEqual({
      ca: { cert: '/certs/3proxy.pem', key: '/certs/3proxy.key' },
      cacheDir: '/certs',
      origin: { verify: false },
    });
    expect(warnings(text)).toContain('3proxy does not verify origin certificates');
  });

  it('ssl_client_no_verify after ssl_client_verify turns verification off again', () => {
    const text = 'ssl_server_ca_file c.pem\nssl_server_ca_key c.key\nssl_client_verify\nssl_client_no_verify\nssl_mitm\nproxy';
    expect(svc(text)[0]!['mitm']).toMatchObject({ origin: { verify: false } });
  });

  it('warns where 3proxy would not intercept: no CA, or a service that is not an HTTP proxy', () => {
    expect(svc('ssl_mitm\nproxy')[0]!['mitm']).toBeUndefined();
    expect(warnings('ssl_mitm\nproxy')).toContain('has no CA and does not intercept');
    const socks = 'ssl_certcache /c/\nssl_client_verify\nssl_mitm\nsocks';
    expect(svc(socks)[0]!['mitm']).toBeUndefined();
    expect(warnings(socks)).toContain('ssl_mitm on a socks service');
  });

  it('refuses what 3proxy refuses: a cache directory without a trailing slash, ssl_mitm on an ssl_serv listener', () => {
    expect(errorLines(convertText('ssl_certcache /var/cache/3proxy\nproxy')).join('\n')).toContain('must end with "/"');
    expect(errorLines(convertText('ssl_server_cert s.pem\nssl_server_key s.key\nssl_serv\nssl_mitm\nproxy')).join('\n')).toContain('ssl_mitm cannot be combined with ssl_serv');
  });
});
