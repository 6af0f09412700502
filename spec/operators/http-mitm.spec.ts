/** Inside an intercepted tunnel the target is fixed: what each request form becomes. */
import type { IncomingMessage } from 'node:http';
import { tunnelTarget, type MitmTunnel } from '../../operators/readRequest/http-mitm';
import { ProxyError } from '../../core/errors';
import type { HttpUpstream } from '../../operators/mapSockets/http-upstream';

const tunnel = (host: string, port: number): MitmTunnel => ({ host, port, servername: host, upstream: {} as HttpUpstream, user: null, password: null });
const req = (url: string): IncomingMessage => ({ url, headers: { host: 'elsewhere.test' } }) as unknown as IncomingMessage;

describe('tunnelTarget', () => {
  it('takes origin-form paths to the tunnel host, whatever Host says; :443 is left out of the URL', () => {
    expect(tunnelTarget(req('/a?b=1'), tunnel('shop.test', 443))).toEqual({ host: 'shop.test', port: 443, path: '/a?b=1', absolute: 'https://shop.test/a?b=1' });
    expect(tunnelTarget(req('/'), tunnel('shop.test', 8443))).toMatchObject({ absolute: 'https://shop.test:8443/' });
    expect(tunnelTarget(req('/x'), tunnel('2001:db8::1', 443))).toMatchObject({ host: '2001:db8::1', absolute: 'https://[2001:db8::1]/x' });
  });

  it('accepts an absolute https:// URL for the tunnel host only', () => {
    expect(tunnelTarget(req('https://shop.test/p'), tunnel('shop.test', 443))).toMatchObject({ path: '/p', absolute: 'https://shop.test/p' });
    expect(tunnelTarget(req('https://SHOP.test:443/p'), tunnel('shop.test', 443))).toMatchObject({ path: '/p' });
    const other = tunnelTarget(req('https://bank.test/p'), tunnel('shop.test', 443));
    expect(other).toBeInstanceOf(ProxyError);
    expect((other as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
    expect((tunnelTarget(req('https://shop.test:8443/p'), tunnel('shop.test', 443)) as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
  });

  it('refuses other request targets (asterisk form, http://, garbage) with 400', () => {
    for (const url of ['*', 'http://shop.test/p', 'shop.test:443', 'https://[bad/']) {
      const t = tunnelTarget(req(url), tunnel('shop.test', 443));
      expect((t as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
      expect((t as ProxyError).httpStatus).toBe(400);
    }
  });
});
