/**
 * 3proxy's TLS commands outside MITM: ssl_serv and the server-side policy (listener `tls:`),
 * ssl_cli with ssl_client_mode 0-2 (`upstreamTls:`), ssl_client_mode 3 with "s" parents
 * (`tls:` on the hop), and 3proxy's own defaults spelled out where rx3proxy's differ.
 * The converted config must also pass the schema.
 */
import { validateValue } from '../../config/load';
import { schemaFor } from '../../core/runtime';
import { builtinRegistries } from '../../core/builtins';
import { codesAt, convertText, errorLines } from './helpers';

const schema = schemaFor(builtinRegistries());
const validateConfig = (config: Record<string, unknown>): unknown[] => validateValue(JSON.parse(JSON.stringify(config)), 'test.cfg', schema);

const servicesOf = (text: string): Record<string, unknown>[] => convertText(text).config['services'] as Record<string, unknown>[];
const messages = (text: string): string => convertText(text).warnings.map((w) => w.message).join('\n');

describe('TLS commands', () => {
  it('ssl_server_* policy goes on the listener, TLS 1.3 suites and the TLS 1.2 list in one cipher string', () => {
    const text = 'ssl_server_cert /c.pem\nssl_server_key /k.pem\nssl_server_min_proto_version tlsv1.2\nssl_server_max_proto_version TLSv1.3\nssl_server_ciphersuites TLS_AES_128_GCM_SHA256\nssl_server_cipher_list ECDHE+AESGCM\nssl_serv\nproxy -p3129';
    expect(servicesOf(text)[0]!['tls']).toEqual({ cert: '/c.pem', key: '/k.pem', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE+AESGCM' });
    expect(codesAt(convertText(text))).toEqual([]);
  });

  it('a setting without its value is unset again (3proxy: argc 1 frees it)', () => {
    const [first, second] = servicesOf('ssl_server_cert /c.pem\nssl_server_key /k.pem\nssl_server_ca_file /ca.pem\nssl_serv\nproxy\nssl_server_ca_file\nproxy -p3129');
    expect(first!['tls']).toMatchObject({ ca: '/ca.pem' });
    expect(second!['tls']).toEqual({ cert: '/c.pem', key: '/k.pem' });
  });

  it('versions below TLS 1.2 are left at the default, with a warning', () => {
    const r = convertText('ssl_server_cert /c.pem\nssl_server_key /k.pem\nssl_server_min_proto_version TLSv1\nssl_serv\nproxy');
    expect((r.config['services'] as Record<string, unknown>[])[0]!['tls']).toEqual({ cert: '/c.pem', key: '/k.pem' });
    expect(r.warnings.map((w) => w.message).join('\n')).toContain('below TLSv1.2');
  });

  describe('ssl_cli: TLS towards the server (upstreamTls)', () => {
    it('verified, with CA, SNI, ALPN, client certificate and policy', () => {
      const text = [
        'ssl_client_verify',
        'ssl_client_ca_file /etc/ca.pem',
        'ssl_client_sni origin.example',
        'ssl_client_alpn h2 http/1.1',
        'ssl_client_cert /etc/cli.pem',
        'ssl_client_key /etc/cli.key',
        'ssl_client_min_proto_version TLSv1.3',
        'ssl_client_cipher_list HIGH',
        'ssl_cli',
        'tcppm 8443 origin.example 443',
        'ssl_nocli',
        'proxy',
      ].join('\n');
      const r = convertText(text);
      expect(errorLines(r)).toEqual([]);
      expect(codesAt(r)).toEqual([]);
      const [mapped, plain] = r.config['services'] as Record<string, unknown>[];
      expect(mapped!['upstreamTls']).toEqual({
        ca: '/etc/ca.pem',
        servername: 'origin.example',
        alpn: ['h2', 'http/1.1'],
        cert: '/etc/cli.pem',
        key: '/etc/cli.key',
        minVersion: 'TLSv1.3',
        ciphers: 'HIGH',
      });
      expect(plain).not.toHaveProperty('upstreamTls');
      expect(validateConfig(r.config)).toEqual([]);
    });

    it("3proxy's default is no verification: verify: false, and a warning that says so", () => {
      const [s] = servicesOf('ssl_cli\nproxy');
      expect(s!['upstreamTls']).toEqual({ verify: false });
      expect(messages('ssl_cli\nproxy')).toContain('not verified, as in 3proxy without ssl_client_verify');
    });

    it('verification without ssl_client_sni: rx3proxy also checks the name, and says so', () => {
      expect(servicesOf('ssl_client_verify\nssl_cli\nproxy')[0]!['upstreamTls']).toEqual({});
      expect(messages('ssl_client_verify\nssl_cli\nproxy')).toContain("checks the certificate's name");
    });

    it('mode 2 (CONNECT only in 3proxy) and mode 0 with parents translate with their differences named', () => {
      expect(messages('ssl_client_verify\nssl_client_sni a.example\nssl_client_mode 2\nssl_cli\nproxy')).toContain('CONNECT requests only');
      const chained = 'ssl_client_verify\nssl_client_sni a.example\nallow *\nparent 1000 connect 10.0.0.1 3128\nssl_cli\nproxy';
      expect(servicesOf(chained)[0]).toHaveProperty('upstreamTls');
      expect(messages(chained)).toContain('starts TLS with the first parent');
    });

    it('has no effect on UDP services', () => {
      expect(servicesOf('ssl_cli\nudppm 5353 10.0.0.1 53')[0]).not.toHaveProperty('upstreamTls');
      expect(messages('ssl_cli\nudppm 5353 10.0.0.1 53')).toContain('no effect on the UDP service');
    });

    it('ssl_client_ca_dir is reported, not translated', () => {
      const r = convertText('ssl_client_ca_dir /etc/ssl/certs/\nssl_cli\nproxy');
      expect(r.warnings.map((w) => w.message).join('\n')).toContain('ssl_client_ca_dir is not translated');
    });
  });

  describe('"s" parents', () => {
    // The chain of 3proxy's own ssl regression case: ssl_client_mode 3, a CA and verify.
    const chain = 'auth iponly\nallow *\nparent 1000 connects 127.0.0.1 3129\nssl_client_mode 3\nssl_client_ca_file /ca.pem\nssl_client_verify\nssl_cli\nproxy -p3130';

    it('with ssl_cli and ssl_client_mode 3 the hop gets the client TLS settings', () => {
      const r = convertText(chain);
      expect(errorLines(r)).toEqual([]);
      const [s] = r.config['services'] as Record<string, unknown>[];
      expect(s!['acl']).toEqual([{ allow: {}, parents: [{ weight: 1000, type: 'connects', host: '127.0.0.1', port: 3129, tls: { ca: '/ca.pem' } }] }]);
      expect(s).not.toHaveProperty('upstreamTls');
      expect(validateConfig(r.config)).toEqual([]);
    });

    it('https, socks5s and socks4+s keep their types; every TLS hop gets the block', () => {
      const text = 'allow *\nparent 1000 https p1 443\nparent 1000 socks5s p2 1080\nparent 1000 socks4+s p3 1080\nssl_client_mode 3\nssl_client_verify\nssl_client_sni parents.example\nssl_cli\nproxy';
      const acl = servicesOf(text)[0]!['acl'] as { parents: Record<string, unknown>[] }[];
      expect(acl[0]!.parents.map((p) => [p['type'], p['tls']])).toEqual([
        ['https', { servername: 'parents.example' }],
        ['socks5s', { servername: 'parents.example' }],
        ['socks4+s', { servername: 'parents.example' }],
      ]);
    });

    it('without ssl_cli mode 3, 3proxy talks plain text to them: the plain type, with a warning', () => {
      const text = 'allow *\nparent 1000 https p1 443\nproxy';
      const acl = servicesOf(text)[0]!['acl'] as { parents: Record<string, unknown>[] }[];
      expect(acl[0]!.parents[0]).toEqual({ weight: 1000, type: 'http', host: 'p1', port: 443 });
      expect(messages(text)).toContain('translated as http');
    });

    it('mode 3 without any "s" parent is reported', () => {
      expect(messages('ssl_client_mode 3\nssl_cli\nproxy')).toContain('has none');
    });
  });
});
