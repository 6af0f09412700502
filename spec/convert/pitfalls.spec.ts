/**
 * Pitfalls the converter warns about (PRXWRN00x), the script-level behaviours of the reader
 * (include, end, writable, $file problems) and template text in configs.
 */
import { WARNINGS } from '../../core/errors';
import { codesAt, convertText, errorLines } from './helpers';

const services = (text: string, files?: Record<string, string>): Record<string, unknown>[] =>
  convertText(text, files).config['services'] as Record<string, unknown>[];

describe('pitfall warnings', () => {
  it('PRXWRN001: auth none with ACL lines converts to no ACL', () => {
    const r = convertText('auth none\ndeny * * 10.0.0.0/8\nallow *\nproxy');
    expect(codesAt(r)).toEqual(['PRXWRN001@4']);
    expect(r.warnings[0]?.message).toContain(WARNINGS.PRXWRN001);
    expect(services('auth none\ndeny *\nproxy')[0]).not.toHaveProperty('acl');
  });

  it('PRXWRN002: cache written after strong', () => {
    expect(codesAt(convertText('authcache user\nauth strong cache'))).toEqual(['PRXWRN002@2']);
    expect(codesAt(convertText('authcache user\nauth cache strong'))).toEqual([]);
  });

  it('PRXWRN003: an HTTP proxy ACL without a catch-all entry', () => {
    expect(codesAt(convertText('allow alice\nproxy'))).toEqual(['PRXWRN003@2']);
    expect(codesAt(convertText('allow alice\ndeny *\nproxy'))).toEqual([]);
    expect(codesAt(convertText('allow alice\nsocks'))).toEqual([]);
  });

  it('PRXWRN005: log or logformat after the last service', () => {
    const r = convertText('proxy\nlog /var/log/x\nlogformat "L%t"\n');
    expect(codesAt(r)).toEqual(['PRXWRN005@3']);
    expect(r.warnings[0]?.message).toContain(WARNINGS.PRXWRN005);
    expect(codesAt(convertText('log\nproxy\nlogformat "L%t"\nsocks'))).toEqual([]);
  });

  it('PRXWRN006: a parent group that sums to less than 1000', () => {
    const r = convertText('allow *\nparent 300 socks5 10.0.0.1 1\nparent 300 socks5 10.0.0.2 1\nparent 300 socks5 10.0.0.3 1\nsocks');
    expect(codesAt(r)).toEqual(['PRXWRN006@4']);
    expect(r.warnings[0]?.message).toContain('about 10% of requests get no parent');
    expect(codesAt(convertText('allow *\nparent 1000 http 1.1.1.1 1\nparent 500 http 1.1.1.2 1\nparent 500 http 1.1.1.3 1\nsocks'))).toEqual([]);
  });

  it('ACL lines no service ever copies', () => {
    const r = convertText('allow * * * 80 HTTP\nflush\nallow admin\nsocks\nallow late');
    expect(r.warnings.map((w) => [w.line, w.message])).toEqual([
      [1, 'ACL entry "allow * * * 80 HTTP" has no effect: flushed before any service line used it'],
      [5, 'ACL entry "allow late" has no effect: no service line follows it'],
    ]);
  });

  it('auth cache without an authcache line', () => {
    expect(codesAt(convertText('auth cache strong\nproxy'))).toEqual(['PRXWRN007@2']);
  });

  it('a logformat without the L/G time-zone letter', () => {
    const r = convertText('logformat "%d-%m-%Y %U"');
    expect(r.warnings[0]?.message).toContain('first character "%" is taken as the time-zone flag');
    expect(codesAt(convertText('logformat "- +_L%t"'))).toEqual([]);
  });

  it.each([
    ['daemon', 'daemon'],
    ['service', 'service'],
    ['stacksize', 'stacksize 65536'],
    ['maxseg', 'maxseg 1400'],
    ['system', 'system "echo hi"'],
    ['dialer', 'dialer /bin/dial'],
    ['writable', 'writable'],
    ['radius', 'radius secret 10.0.0.1'],
    ['rotate that reads as 0', 'rotate random'],
    ['-d on a service', 'proxy -d'],
    ['-S on a service', 'proxy -S16384'],
  ])('%s is reported with a reason (PRXWRN004)', (_what, text) => {
    const r = convertText(text);
    expect(errorLines(r)).toEqual([]);
    expect(codesAt(r)).toEqual(['PRXWRN004@1']);
  });

  it.each([
    ['ssl_mitm\nproxy', 'ssl_mitm without ssl_server_ca_file'],
    ['auth pam strong', 'PamAuth plugin'],
  ])('%s converts with a warning', (text, phrase) => {
    const r = convertText(text);
    expect(errorLines(r)).toEqual([]);
    expect(r.warnings.map((w) => w.message).join('\n')).toContain(phrase);
  });
});

describe('script reading', () => {
  it('include runs another file in place, recursively, with its own line numbers', () => {
    const files = { 'a.cfg': 'auth strong\ninclude b.cfg\n', 'b.cfg': 'allow alice\nproxy\n' };
    const r = convertText('include a.cfg\nflush\nsocks', files);
    expect(services('include a.cfg\nflush\nsocks', files)).toMatchObject([{ auth: ['strong'], acl: [{ allow: { users: ['alice'] } }] }, { auth: ['strong'] }]);
    expect(r.yaml).toContain('# b.cfg:1: allow alice');
  });

  it('a missing include is a warning (the file often exists only on the target machine)', () => {
    const r = convertText('include /etc/3proxy/limits\nproxy');
    expect(errorLines(r)).toEqual([]);
    expect(r.warnings[0]?.message).toContain('its commands are NOT converted');
  });

  it('end stops the current file only', () => {
    expect(services('include a.cfg\nsocks\nend\nadmin', { 'a.cfg': 'proxy\nend\nftppr\n' }).map((s) => s['type'])).toEqual(['proxy', 'socks']);
  });

  it('an include that includes itself stops at a depth limit', () => {
    const r = convertText('include loop.cfg', { 'loop.cfg': 'include loop.cfg\n' });
    expect(errorLines(r)).toEqual(['loop.cfg:1: include loop.cfg: nested more than 16 levels deep']);
  });

  it('an unreadable $file drops the argument, as 3proxy does, and says so', () => {
    const r = convertText('allow * * $nets 80\nsocks');
    expect(services('allow * * $nets 80\nsocks')).toMatchObject([{ acl: [{ allow: { targets: ['80'] } }] }]);
    expect(r.warnings[0]?.message).toContain('$nets cannot be read: 3proxy drops this argument');
  });
});

describe('template text (configs rendered by Jinja, mustache, entrypoint scripts)', () => {
  it.each([
    ['a Jinja statement', '{% for ns in servers %}'],
    ['a mustache value', 'nserver {{ . }}'],
    ['a value in a flag', 'proxy -p{{ port }}'],
    ['a documentation ellipsis', '...'],
    ['an _underscore_ placeholder that 3proxy would refuse', 'maxconn _maxconn_'],
    ['an @VAR@ placeholder that 3proxy would refuse', 'socks -p@PORT@'],
    ['an unset $VARIABLE', 'setgid $GID'],
  ])('%s is a warning, not an error', (_what, text) => {
    const r = convertText(text);
    expect(errorLines(r)).toEqual([]);
    expect(r.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/^template placeholder .*: line not converted \(render the template first\)/)]);
  });

  it('a placeholder inside a valid value converts as written, with a warning', () => {
    const r = convertText('log @multiproxy-@PORT@');
    expect(r.config['accessLog']).toMatchObject({ to: 'syslog:multiproxy-@PORT@' });
    expect(r.warnings.map((w) => w.message)).toEqual(['template placeholder @PORT@ in this line; converted as written']);
  });
});
