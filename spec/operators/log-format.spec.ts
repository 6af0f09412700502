import {
  compileLogFormat,
  compileTimeTemplate,
  DEFAULT_3PROXY_FORMAT,
  expandTimeTemplate,
} from '../../operators/log/format';
import { formatJson } from '../../operators/log/json';
import type { AccessRecord } from '../../operators/log/record';

/** 2024-03-05T07:08:09.042Z: every date field differs, so a swapped escape shows. */
const TIME = Date.UTC(2024, 2, 5, 7, 8, 9, 42);
const SEC = Math.floor(TIME / 1000);

function rec(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    time: TIME,
    startTime: TIME - 1500,
    service: 'web',
    serviceLogName: 'PROXY',
    servicePort: 3128,
    user: 'alice',
    clientIp: '10.0.0.1',
    clientPort: 5555,
    internalIp: '10.0.0.254',
    externalIp: '192.0.2.10',
    remoteIp: '93.184.216.34',
    remotePort: 80,
    requestedIp: '93.184.216.35',
    requestedPort: 8080,
    host: 'example.com',
    operation: 'HTTP_GET',
    bytesIn: 2000,
    bytesOut: 100,
    durationMs: 1500,
    hops: 0,
    code: 0,
    errorCode: null,
    text: 'GET http://example.com/ HTTP/1.1',
    ...over,
  };
}

const fmt = (format: string, r: AccessRecord = rec()): string => compileLogFormat(format)(r);
const pad2 = (n: number): string => String(n).padStart(2, '0');

describe('compileLogFormat: escapes (GMT)', () => {
  const cases: [string, string, Partial<AccessRecord>?][] = [
    ['%y', '24'],
    ['%Y', '2024'],
    ['%m', '03'],
    ['%o', 'Mar'],
    ['%d', '05'],
    ['%H', '07'],
    ['%M', '08'],
    ['%S', '09'],
    ['%t', String(SEC)],
    ['%t', '0000000005', { time: 5042 }],
    ['%.', '042'],
    ['%.', '007', { time: TIME - 35 }],
    ['%z', '+0000'],
    ['%D', '1500'],
    ['%b', '66'], // 100 bytes out in 1.5 s
    ['%B', '1333'], // 2000 bytes in in 1.5 s
    ['%b', '0', { durationMs: 0 }],
    ['%B', '0', { durationMs: 0 }],
    ['%U', 'alice'],
    ['%U', '-', { user: null }],
    ['%U', '-', { user: '' }],
    ['%N', 'PROXY'],
    ['%N', '-', { serviceLogName: '' }],
    ['%N', 'A'.repeat(20), { serviceLogName: 'A'.repeat(30) }],
    ['%p', '3128'],
    ['%E', '00000'],
    ['%E', '00012', { code: 12 }],
    ['%E', '12345', { code: 123456 }],
    ['%C', '10.0.0.1'],
    ['%c', '5555'],
    ['%R', '93.184.216.34'],
    ['%R', '0.0.0.0', { remoteIp: null }],
    ['%r', '80'],
    ['%Q', '93.184.216.35'],
    ['%Q', '0.0.0.0', { requestedIp: null }],
    ['%q', '8080'],
    ['%e', '192.0.2.10'],
    ['%e', '0.0.0.0', { externalIp: null }],
    ['%i', '10.0.0.254'],
    ['%n', 'example.com'],
    ['%n', '[93.184.216.35]', { host: null }],
    ['%n', '[93.184.216.35]', { host: '' }],
    ['%n', '[2001:db8::1]', { host: '2001:db8::1', requestedIp: '2001:db8::1' }],
    ['%n', '[0.0.0.0]', { host: null, requestedIp: null }],
    ['%I', '2000'],
    ['%O', '100'],
    ['%h', '2', { hops: 2 }],
    ['%T', 'GET http://example.com/ HTTP/1.1'],
    ['%L', '0'],
    ['%%', '%'],
    ['100%% %x', '100% x'], // unknown escape prints its letter
    ['%0%-', '0-'],
    ['end%', 'end%'], // a lone trailing % is literal
    ['plain text', 'plain text'],
    ['', ''],
  ];
  // Rows padded to full length: jest.each treats a missing trailing argument as a `done` callback.
  it.each(cases.map(([f, e, over]) => [f, e, over ?? {}] as const))('G%s -> %j', (format, expected, over) => {
    expect(fmt(`G${format}`, rec(over))).toBe(expected);
  });

  it('prints user text without any filter when there is no prefix', () => {
    expect(fmt('G%U|%T', rec({ user: 'a b', text: 'x\ty\n' }))).toBe('a b|x\ty\n');
  });
});

describe('compileLogFormat: filter prefix -XYZ+C', () => {
  const r = rec({ user: 'a b', host: 'h\tx', text: 'GET /a b\r\nHTTP/1.1' });
  const cases: [string, string][] = [
    ['- +_L%U|%n|%T|%C', 'a_b|h_x|GET_/a_b__HTTP/1.1|10.0.0.1'],
    ['-+_L%U|%n|%T', 'a b|h_x|GET /a b__HTTP/1.1'], // empty set: control chars only
    ['- +_L %U', ' a_b'], // literals are never filtered
    ['-ab +$L%U', '$$$'], // `$` is a plain replacement, not a regex pattern
    ['- ]^\\-+.L%U %T', 'a.b GET./a.b..HTTP/1.1'],
  ];
  it.each(cases)('%j', (format, expected) => {
    expect(fmt(format, r)).toBe(expected);
  });

  it('filters non-ASCII listed chars and leaves clean text untouched', () => {
    expect(fmt('-\u00e9+_L%U %T', rec({ user: 'caf\u00e9', text: 'plain' }))).toBe('caf_ plain');
  });

  it('is not a prefix without a char after the +; then "-" is the clock letter', () => {
    expect(fmt('-ab+')).toBe('ab+');
    expect(fmt('abc%U')).toBe('bcalice');
  });

  it('-\\"+_ keeps a hand-written JSON format parseable', () => {
    const format = '-\\"+_G{"time":"%Y-%m-%dT%H:%M:%S.%.Z","user":"%U","host":"%n","request":"%T","code":"%E"}';
    const r2 = rec({ user: 'ev"il\\', host: 'x"y', text: 'GET /"q"\\\n HTTP/1.1' });
    const parsed = JSON.parse(fmt(format, r2));
    expect(parsed).toEqual({
      time: '2024-03-05T07:08:09.042Z',
      user: 'ev_il_',
      host: 'x_y',
      request: 'GET /_q___ HTTP/1.1',
      code: '00000',
    });
  });
});

describe('compileLogFormat: clock letter', () => {
  const local = new Date(TIME);
  const localHm = pad2(local.getHours()) + pad2(local.getMinutes());
  const off = -local.getTimezoneOffset();
  const localZ = `${off < 0 ? '-' : '+'}${pad2(Math.floor(Math.abs(off) / 60))}${pad2(Math.abs(off) % 60)}`;

  it.each([
    ['G%H%M', '0708'],
    ['g%H%M', '0708'],
    ['L%H%M', localHm],
    ['X%H%M', localHm],
    ['L%z', localZ],
    ['L%y%m%d', pad2(local.getFullYear() % 100) + pad2(local.getMonth() + 1) + pad2(local.getDate())],
  ])('%j', (format, expected) => {
    expect(fmt(format)).toBe(expected);
  });

  it('always consumes the first character, even a %', () => {
    expect(fmt('%t.%.')).toBe('t.042');
    expect(fmt('%U %E')).toBe('U 00000');
  });

  it('lets opts.timeZone override the letter, which is still consumed', () => {
    expect(compileLogFormat('L%H%M', { timeZone: 'utc' })(rec())).toBe('0708');
    expect(compileLogFormat('G%H%M', { timeZone: 'local' })(rec())).toBe(localHm);
    expect(compileLogFormat('%H', { timeZone: 'utc' })(rec())).toBe('H');
  });
});

describe('compileLogFormat: %X-YT field ranges', () => {
  const cases: [string, string, string?][] = [
    ['%1-1T', 'GET'],
    ['%2-2T', 'http://example.com/'],
    ['%3-3T', 'HTTP/1.1'],
    ['%4-4T', ''],
    ['%1-2T', 'GET http://example.com/'],
    ['%2-3T', 'http://example.com/ HTTP/1.1'],
    ['%1-2T', 'GET\thttp://x/', 'GET  \thttp://x/  HTTP/1.1'], // a run of blanks keeps its last char
    ['%10-11T', 'j k', 'a b c d e f g h i j k l'],
    ['%3-1T', ''],
    ['[%1T]', '[GETT]'], // no range: field 1, then the T is printed again
    ['[%12T]', '[GET2T]'],
    ['[%1-2x]', '[]'], // a range not followed by T swallows the next char
    ['[%5z]', '[z]'], // a lone digit is dropped
  ];
  it.each(cases.map(([f, e, text]) => [f, e, text ?? rec().text] as const))('%j -> %j', (format, expected, text) => {
    expect(fmt(`G${format}`, rec({ text }))).toBe(expected);
  });

  it('applies the filter to the selected fields', () => {
    expect(fmt('- +_G%1-2T', rec({ text: 'GET /a\u0001b HTTP/1.1' }))).toBe('GET_/a_b');
  });
});

describe('compileLogFormat: well-known formats and limits', () => {
  it('exports 3proxy DEFLOGFORMAT and formats it', () => {
    expect(DEFAULT_3PROXY_FORMAT).toBe('G%y%m%d%H%M%S.%. %p %E %U %C:%c %R:%r %O %I %h %T');
    expect(fmt(DEFAULT_3PROXY_FORMAT)).toBe(
      '240305070809.042 3128 00000 alice 10.0.0.1:5555 93.184.216.34:80 100 2000 0 GET http://example.com/ HTTP/1.1',
    );
  });

  it('formats the de-facto standard "- +_L%t..." format', () => {
    const f = compileLogFormat('- +_L%t.%. %N.%p %E %U %C:%c %R:%r %O %I %h %T');
    expect(f(rec({ code: 3, user: null, remoteIp: null, remotePort: 0 }))).toBe(
      `${SEC}.042 PROXY.3128 00003 - 10.0.0.1:5555 0.0.0.0:0 100 2000 0 GET_http://example.com/_HTTP/1.1`,
    );
  });

  it('reuses one compiled formatter across records and seconds', () => {
    const f = compileLogFormat('G%H:%M:%S.%. %U');
    expect(f(rec())).toBe('07:08:09.042 alice');
    expect(f(rec({ time: TIME + 1, user: 'bob' }))).toBe('07:08:09.043 bob');
    expect(f(rec({ time: TIME + 61_000 }))).toBe('07:09:10.042 alice');
  });

  it('caps user text at 4000 and the line at 4040 chars, like dobuf2', () => {
    const long = 'x'.repeat(5000);
    expect(fmt('G%T', rec({ text: long }))).toHaveLength(4000);
    expect(fmt('G%T%E', rec({ text: long }))).toBe(`${'x'.repeat(4000)}00000`);
    expect(fmt(`G${long}`)).toHaveLength(4040);
    expect(fmt(`G${'y'.repeat(4038)}%U%T`)).toBe(`${'y'.repeat(4038)}`);
    expect(fmt(`G${'y'.repeat(4038)}%E`)).toHaveLength(4043);
  });
});

describe('expandTimeTemplate', () => {
  const d = new Date(TIME);
  const ymd = `${d.getFullYear()}${pad2(d.getMonth() + 1)}${pad2(d.getDate())}`;
  const hms = `${pad2(d.getHours())}${pad2(d.getMinutes())}${pad2(d.getSeconds())}`;

  it.each([
    ['/var/log/3proxy.%Y%m%d-%H%M%S.log', `/var/log/3proxy.${ymd}-${hms}.log`],
    ['G%y', `G${pad2(d.getFullYear() % 100)}`], // no clock letter is consumed
    ['plain.log', 'plain.log'],
    ['100%%.%U', '100%.-'],
  ])('%j', (template, expected) => {
    expect(expandTimeTemplate(template, d)).toBe(expected);
  });

  it('compiles once and expands many dates', () => {
    const name = compileTimeTemplate('%Y.%m');
    expect(name(new Date(2023, 0, 15))).toBe('2023.01');
    expect(name(new Date(2024, 11, 15))).toBe('2024.12');
  });
});

describe('formatJson', () => {
  it('writes one parseable line with every key', () => {
    const line = formatJson(rec({ text: 'GET /"q"\\\n HTTP/1.1' }));
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      time: '2024-03-05T07:08:09.042Z',
      service: 'web',
      user: 'alice',
      client: '10.0.0.1:5555',
      target: 'example.com:8080',
      remote: '93.184.216.34:80',
      operation: 'HTTP_GET',
      bytesIn: 2000,
      bytesOut: 100,
      durationMs: 1500,
      code: 0,
      error: null,
      text: 'GET /"q"\\\n HTTP/1.1',
    });
  });

  it('uses nulls for missing user and remote, requestedIp for the target, brackets for IPv6', () => {
    const parsed = JSON.parse(
      formatJson(
        rec({
          user: null,
          remoteIp: null,
          host: null,
          requestedIp: '2001:db8::1',
          clientIp: '::1',
          code: 11,
          errorCode: 'PRX_ERR_CONNECT_REFUSED',
        }),
      ),
    );
    expect(parsed).toMatchObject({
      user: null,
      remote: null,
      target: '[2001:db8::1]:8080',
      client: '[::1]:5555',
      code: 11,
      error: 'PRX_ERR_CONNECT_REFUSED',
    });
  });

  it('has a null target when the request named no host and no address', () => {
    expect(JSON.parse(formatJson(rec({ host: null, requestedIp: null }))).target).toBeNull();
  });
});
