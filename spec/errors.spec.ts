import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, WARNINGS, ProxyError, proxyError, toProxyError, httpStatusFor, socksReplyFor } from '../core/errors';

describe('error codes', () => {
  const doc = readFileSync(join(__dirname, '..', 'docs', 'errors.md'), 'utf8');

  it('follow the PRX_ERR_<AREA>_<WHAT> scheme and are unique', () => {
    const codes = Object.keys(ERRORS);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^PRX_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });

  it.each(Object.keys(ERRORS))('%s is documented in docs/errors.md', (code) => {
    expect(doc).toContain('`' + code + '`');
  });

  it.each(Object.keys(WARNINGS))('warning %s is documented', (code) => {
    expect(doc).toContain('`' + code + '`');
  });

  it('fills message templates and keeps the code, legacy number and hints', () => {
    const e = proxyError('PRX_ERR_CONNECT_REFUSED', '10.0.0.1:80');
    expect(e.message).toBe('connection to 10.0.0.1:80 refused');
    expect(e).toMatchObject({ code: 'PRX_ERR_CONNECT_REFUSED', legacyCode: 13, httpStatus: 502, socksReply: 0x05 });
    expect(e instanceof ProxyError).toBe(true);
    expect(e instanceof Error).toBe(true);
  });

  it('wraps unknown throws as internal errors with the cause kept', () => {
    const cause = new TypeError('boom');
    const e = toProxyError(cause);
    expect(e.code).toBe('PRX_ERR_INTERNAL');
    expect(e.cause).toBe(cause);
    expect(toProxyError(e)).toBe(e);
    expect(({ not: 'an error' }) instanceof ProxyError).toBe(false);
  });

  it.each([
    [0, 200, 0x00],
    [1, 403, 0x02],
    [4, 407, 0x02],
    [10, 503, 0x02],
    [13, 502, 0x05],
    [21, 500, 0x01],
    [43, 502, 0x04],
    [100, 502, 0x04],
    [513, 400, 0x03],
    [997, 500, 0x08],
  ])('3proxy code %i maps to HTTP %i and SOCKS5 0x%s', (legacy, http, socks) => {
    expect(httpStatusFor(legacy)).toBe(http);
    expect(socksReplyFor(legacy)).toBe(socks);
  });
});
