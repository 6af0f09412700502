/** HTTP reader helpers: targets, operations, credentials, error pages. */
import type { IncomingMessage } from 'node:http';
import { targetOf, splitHostPort, basicCredentials, operationOf } from '../../operators/readRequest/http-request';
import { errorResponse, statusFor } from '../../operators/readRequest/http-responder';
import { parseError } from '../../operators/readRequest/http';
import { proxyError, type ProxyError } from '../../core/errors';

const msg = (url: string, host?: string): IncomingMessage => ({ url, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;

describe('HTTP request helpers', () => {
  it('reads absolute, origin-form and IPv6 targets', () => {
    expect(targetOf(msg('http://example.com/a?b=1'))).toEqual({ host: 'example.com', port: 80, path: '/a?b=1', absolute: 'http://example.com/a?b=1' });
    expect(targetOf(msg('http://[::1]:8080/'))).toMatchObject({ host: '::1', port: 8080, path: '/' });
    expect(targetOf(msg('/x', 'h.test:81'))).toEqual({ host: 'h.test', port: 81, path: '/x', absolute: 'http://h.test:81/x' });
  });

  it('refuses what it cannot serve with the right codes', () => {
    expect((targetOf(msg('/x')) as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
    expect((targetOf(msg('gopher://h/f')) as ProxyError).code).toBe('PRX_ERR_HTTP_UNSUPPORTED_SCHEME');
    expect((targetOf(msg('ftp://h/%ZZ')) as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
    expect((targetOf(msg('https://h/')) as ProxyError).httpStatus).toBe(501);
    expect((targetOf(msg('*')) as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
  });

  it('reads ftp:// targets: port 21, decoded path and credentials, none of them in `absolute`', () => {
    expect(targetOf(msg('ftp://u%40x:p%3Aw@h.test/a%20b/c.txt'))).toEqual({
      host: 'h.test',
      port: 21,
      path: '/a%20b/c.txt',
      absolute: 'ftp://h.test/a%20b/c.txt',
      ftp: { path: '/a b/c.txt', user: 'u@x', password: 'p:w' },
    });
    expect(targetOf(msg('ftp://[::1]:2121/'))).toMatchObject({ host: '::1', port: 2121, ftp: { path: '/', user: null, password: null } });
    expect((targetOf(msg('ftp://h/a%0D%0ADELE%20x')) as ProxyError).code).toBe('PRX_ERR_HTTP_BAD_URL');
  });

  it('splits CONNECT authorities', () => {
    expect(splitHostPort('h:443', 0)).toEqual({ host: 'h', port: 443 });
    expect(splitHostPort('[2001:db8::1]:443', 0)).toEqual({ host: '2001:db8::1', port: 443 });
    expect(splitHostPort('h:99999', 0)).toBeNull();
    expect(splitHostPort('a b:1', 0)).toBeNull();
  });

  it('maps methods to 3proxy operations', () => {
    expect(['GET', 'POST', 'PUT', 'HEAD', 'CONNECT', 'DELETE', 'BITS_POST'].map(operationOf)).toEqual([
      'HTTP_GET',
      'HTTP_POST',
      'HTTP_PUT',
      'HTTP_HEAD',
      'HTTP_CONNECT',
      'HTTP_OTHER',
      'HTTP_POST',
    ]);
  });

  it('decodes Basic proxy credentials only', () => {
    const b64 = Buffer.from('user:pa:ss').toString('base64');
    expect(basicCredentials(`Basic ${b64}`)).toEqual({ user: 'user', password: 'pa:ss' });
    expect(basicCredentials('NTLM abc')).toBeNull();
    expect(basicCredentials(undefined)).toBeNull();
  });

  it('maps parser errors: header overflow 431, others 400', () => {
    expect(parseError(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).httpStatus).toBe(431);
    expect(parseError(Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD' })).code).toBe('PRX_ERR_HTTP_BAD_REQUEST');
  });
});

describe('HTTP error responses', () => {
  it('asks for Basic credentials on auth failures, or 403s with userAuth: never', () => {
    const text = errorResponse(proxyError('PRX_ERR_AUTH_UNKNOWN_USER', '<x>'), false).toString();
    expect(text).toMatch(/^HTTP\/1\.0 407 Proxy Authentication Required\r\n/);
    expect(text).toContain('Proxy-Authenticate: Basic realm="proxy"\r\n');
    expect(text).toContain('Connection: close\r\n');
    expect(text).toContain('PRX_ERR_AUTH_UNKNOWN_USER (5)');
    expect(text).toContain('&lt;x&gt;');
    const length = Number(/Content-Length: (\d+)/.exec(text)![1]);
    expect(Buffer.byteLength(text.split('\r\n\r\n').slice(1).join('\r\n\r\n'))).toBe(length);
    expect(statusFor(proxyError('PRX_ERR_AUTH_REQUIRED'), true)).toBe(403);
    expect(errorResponse(proxyError('PRX_ERR_AUTH_REQUIRED'), true).toString()).not.toContain('Proxy-Authenticate');
  });

  it('uses the error table statuses (403 ACL, 502, 504, 408 handshake timeout)', () => {
    expect(statusFor(proxyError('PRX_ERR_ACL_DENIED', 0), false)).toBe(403);
    expect(statusFor(proxyError('PRX_ERR_CONNECT_REFUSED', 'x'), false)).toBe(502);
    expect(statusFor(proxyError('PRX_ERR_HTTP_UPSTREAM_TIMEOUT'), false)).toBe(504);
    expect(statusFor(proxyError('PRX_ERR_REQUEST_TIMEOUT'), false)).toBe(408);
  });
});
