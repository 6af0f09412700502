/**
 * One translator per command: what each 3proxy line becomes in the YAML shape. Table-driven:
 * config text -> the part of the config it must produce (toMatchObject) -> warnings.
 */
import { codesAt, convertText, errorLines } from './helpers';

type Case = readonly [what: string, text: string, expected: Record<string, unknown>, warnings?: readonly string[]];

const svc = (fields: Record<string, unknown>): Record<string, unknown> => ({ services: [fields] });

const CASES: readonly Case[] = [
  // ---- services and snapshots -----------------------------------------------------------
  ['default auth is iponly and an empty ACL allows all', 'proxy', svc({ name: 'proxy-3128', type: 'proxy', listen: '0.0.0.0:3128', auth: ['iponly'] })],
  ['default ports per service', 'socks\npop3p\nsmtpp\nimapp\nftppr\ntlspr\nauto\nadmin\ndnspr', {
    services: ['0.0.0.0:1080', '0.0.0.0:110', '0.0.0.0:587', '0.0.0.0:143', '0.0.0.0:21', '0.0.0.0:1443', '0.0.0.0:8080', '0.0.0.0:80', '0.0.0.0:53'].map((listen) => ({ listen })),
  }],
  ['internal and external apply to later services; -i and -e override', 'internal 10.0.0.1\nexternal 192.0.2.1\nproxy\nsocks -i10.0.0.2 -e192.0.2.2 -e2001:db8::2', {
    services: [
      { listen: '10.0.0.1:3128', external: '192.0.2.1' },
      { listen: '10.0.0.2:1080', external: ['192.0.2.2', '2001:db8::2'] },
    ],
  }],
  ['IPv6 and unix listeners', 'internal ::1\nproxy\nproxy -iunix:/run/p.sock\nsocks -i[::]', {
    services: [{ listen: '[::1]:3128' }, { listen: 'unix:/run/p.sock', name: 'proxy-unix' }, { listen: '[::]:1080' }],
  }],
  ['duplicate names get a suffix', 'proxy -p8080 -i10.0.0.1\nproxy -p8080 -i10.0.0.2', { services: [{ name: 'proxy-8080' }, { name: 'proxy-8080-2' }] }],
  ['tcppm/udppm positional arguments', 'tcppm -p1 8080 10.0.0.5 80\nudppm 5353 ::1 53\ntcppm 2222 unix:/run/x.sock 1', {
    services: [
      { type: 'tcppm', listen: '0.0.0.0:8080', target: '10.0.0.5:80' },
      { type: 'udppm', listen: '0.0.0.0:5353', target: '[::1]:53' },
      { target: 'unix:/run/x.sock' },
    ],
  }],
  ['each service copies auth, ACL and maxconn; flush empties the ACL only', 'auth strong\nallow alice\nmaxconn 7\nproxy\nflush\nsocks\nauth iponly\nadmin', {
    services: [
      { auth: ['strong'], acl: [{ allow: { users: ['alice'] } }], maxconn: 7 },
      { auth: ['strong'], maxconn: 7 },
      { auth: ['iponly'], maxconn: 7 },
    ],
  }, ['PRXWRN003@4']],
  ['without flush, later services inherit earlier rules', 'allow a\nproxy\ndeny b\nsocks', {
    services: [{ acl: [{ allow: { users: ['a'] } }] }, { acl: [{ allow: { users: ['a'] } }, { deny: { users: ['b'] } }] }],
  }, ['PRXWRN003@2']],
  ['backlog', 'backlog 64\nproxy', svc({ backlog: 64 })],
  // ---- ACL entries ----------------------------------------------------------------------
  ['all ACE fields, * omitted', 'allow u1,u2 10.0.0.0/8,10.1.0.1-10.1.0.9 *.example.com,192.0.2.0/24 80,8000-8100 HTTP_GET,CONNECT 1-5,6 09:00:00-18:00:00 5\nproxy', svc({
    acl: [{
      allow: { users: ['u1', 'u2'], sources: ['10.0.0.0/8', '10.1.0.1-10.1.0.9'], targets: ['*.example.com', '192.0.2.0/24'], ports: [80, '8000-8100'], operations: ['HTTP_GET', 'CONNECT'], weekdays: ['1-5', 6], times: ['09:00:00-18:00:00'] },
      weight: 5,
    }],
  }), ['PRXWRN003@2']],
  ['parents attach to the last allow, in order', 'allow *\nparent 500 socks5 10.0.0.1 1080 u p\nparent 500 connect+ proxy.example 3128\nsocks', svc({
    acl: [{ allow: {}, parents: [{ weight: 500, type: 'socks5', host: '10.0.0.1', port: 1080, user: 'u', password: 'p' }, { weight: 500, type: 'connect+', host: 'proxy.example', port: 3128 }] }],
  })],
  ['local redirection and TLS parent types', 'allow * * * 80\nparent 1000 http 0.0.0.0 0\nallow *\nparent 1000 socks5s 10.0.0.1 1080\nparent 1000 extip 192.0.2.0/24 0\nsocks', svc({
    acl: [
      { allow: { ports: [80] }, parents: [{ type: 'http', host: '0.0.0.0', port: 0 }] },
      // 3proxy speaks TLS to an "s" parent only under ssl_cli with ssl_client_mode 3.
      { allow: {}, parents: [{ type: 'socks5' }, { type: 'extip', host: '192.0.2.0/24' }] },
    ],
  }), ['PRXWRN007@6']],
  ['redirect becomes a redirect entry', 'redirect 10.0.0.2 3128 * * * 80\nsocks', svc({ acl: [{ redirect: { host: '10.0.0.2', port: 3128, match: { ports: [80] } } }] })],
  ['redirect with parents becomes allow + its own http hop first', 'redirect 10.0.0.2 3128\nparent 1000 socks5 10.0.0.3 1080\nsocks', svc({
    acl: [{ allow: {}, parents: [{ weight: 1000, type: 'http', host: '10.0.0.2', port: 3128 }, { type: 'socks5', host: '10.0.0.3' }] }],
  })],
  ['nolog and weight mark the last entry', 'deny * * bad.example\nnolog\nallow *\nweight 3\nsocks', svc({ acl: [{ deny: { targets: ['bad.example'] }, nolog: true }, { allow: {}, weight: 3 }] })],
  // ---- auth -----------------------------------------------------------------------------
  ['auth chains and authcache', 'authcache ip,user,pass,limit 120 1000\nauth cache strong\nproxy', {
    authCache: { keys: ['ip', 'user', 'password', 'limit'], ttl: '120s', size: 1000 },
    services: [{ auth: ['cache', 'strong'] }],
  }],
  ['authcache defaults', 'authcache x', { authCache: { keys: ['user', 'password'], ttl: '600s' } }, ['PRXWRN004@1']],
  // ---- users ----------------------------------------------------------------------------
  ['users forms', 'users a:CL:1 "b:CR:$1$s$h" c:NT:ABCD d:plain', { users: { a: 'CL:1', b: 'CR:$1$s$h', c: 'NT:ABCD', d: 'CL:plain' } }],
  ['users entries that 3proxy cannot use are reported', 'users noname e:LM:x', {}, ['PRXWRN004@1', 'PRXWRN004@1']],
  ['a later entry replaces an earlier one', 'users a:CL:1\nusers a:CL:2', { users: { a: 'CL:2' } }],
  ['users $file stays a file reference', 'users $/etc/3proxy/passwd x:CL:y', { usersFiles: ['/etc/3proxy/passwd'], users: { x: 'CL:y' } }],
  // ---- resolver -------------------------------------------------------------------------
  ['nserver forms', 'nserver 1.1.1.1\nnserver 1.1.1.2:5353/tcp\nnserver [::1]:53\nnserver ::2', { resolver: { servers: ['1.1.1.1:53', '1.1.1.2:5353/tcp', '[::1]:53', '[::2]:53'] } }],
  ['at most 5 name servers', 'nserver 1.0.0.1\nnserver 1.0.0.2\nnserver 1.0.0.3\nnserver 1.0.0.4\nnserver 1.0.0.5\nnserver 1.0.0.6', {}, ['PRXWRN004@6']],
  ['name cache, static names, fakeresolve, authnserver', 'nscache 65536\nnscache6 1024\nnsrecord bad.example 0.0.0.0\nfakeresolve\nauthnserver 10.0.0.53', {
    resolver: { cacheSize: 65536, cacheSize6: 1024, hosts: { 'bad.example': '0.0.0.0' }, fakeResolve: true, authServer: '10.0.0.53' },
  }],
  // ---- logging --------------------------------------------------------------------------
  ['log targets', 'log\nproxy\nlog @ident\nsocks\nlog /dev/null\nadmin\nlog /var/log/3p-%y%m%d.log W\nrotate 4\narchiver gz /bin/gzip %F\ntcppm 1 h 2', {
    accessLog: { to: '/var/log/3p-%y%m%d.log', rotate: { every: 'weekly', keep: 4 }, archiver: { ext: 'gz', command: ['/bin/gzip', '%F'] } },
    services: [{ accessLog: { to: 'stdout' } }, { accessLog: { to: 'syslog:ident' } }, { accessLog: { to: 'none' } }, { name: 'tcppm-1' }],
  }],
  ['a service with the final log settings carries none of its own', 'log /var/log/p.log\nlogformat "L%t %E"\nproxy', {
    accessLog: { to: '/var/log/p.log', format: 'L%t %E' },
    services: [{ name: 'proxy-3128' }],
  }],
  ['-l and -f override per service', 'log\nproxy -l/var/log/own.log -fG%t\nsocks -l', {
    services: [{ accessLog: { to: '/var/log/own.log', format: 'G%t' } }, { name: 'socks-1080' }],
  }],
  ['ODBC logging writes nothing and says so', 'log &dsn,user,pw\nproxy', { accessLog: { to: 'none' } }, ['PRXWRN004@1']],
  ['logdump', 'logdump 1048576 65536', { logDump: { in: 1048576, out: 65536 } }],
  // ---- limits ---------------------------------------------------------------------------
  ['bandwidth rules and exemptions, in order', 'nobandlimin * * * 110\nbandlimin 57600 * 192.168.10.16/30\nbandlimout 9600 alice', {
    bandwidth: [
      { direction: 'in', exempt: true, match: { ports: [110] } },
      { direction: 'in', rate: 57600, match: { sources: ['192.168.10.16/30'] } },
      { direction: 'out', rate: 9600, match: { users: ['alice'] } },
    ],
  }],
  ['connection limits', 'connlim 100 60 * 127.0.0.1\nconnlim 10 0 alice\nnoconnlim bob', {
    connectionLimits: [{ rate: 100, per: '60s', match: { sources: ['127.0.0.1'] } }, { rate: 10, per: '0s' }, { exempt: true, match: { users: ['bob'] } }],
  }],
  ['counters', 'counter /var/c.3cf M /var/report\ncountall 7 Y 10 alice\nnocountout * 10.0.0.1\ncountout "8/upload quota" H 5', {
    counters: {
      file: '/var/c.3cf.json',
      report: { every: 'monthly', file: '/var/report' },
      rules: [
        { id: 7, direction: 'all', every: 'annually', limitMB: 10, match: { users: ['alice'] } },
        { direction: 'out', exempt: true, match: { sources: ['10.0.0.1'] } },
        { id: 8, comment: 'upload quota', direction: 'out', every: 'hourly', limitMB: 5, match: {} },
      ],
    },
  }, ['PRXWRN007@1']],
  // ---- global settings ------------------------------------------------------------------
  ['timeouts: later lines set only their first values', 'timeouts 1 5 30 60 180 1800 15 60 15 5 5\ntimeouts 2', {
    timeouts: { byteShort: '2s', byteLong: '5s', stringShort: '30s', stringLong: '60s', connectionShort: '180s', connectionLong: '1800s', dns: '15s', chain: '60s', connect: '15s', connectBack: '5s', linger: '5s' },
  }],
  ['process settings', 'parentretries 3\nfiltermaxsize 1048576\ndelimchar #\nnoforce\npidfile /run/p.pid\nsetgid proxy\nsetuid 4000\nmonitor /etc/a\nmonitor /etc/b\nconfig /etc/3proxy.cfg', {
    parentRetries: 3, filterMaxSize: '1MB', delimChar: '#', reloadReauth: false, pidfile: '/run/p.pid', setgid: 'proxy', setuid: 4000, monitor: ['/etc/a', '/etc/b'], configPath: '/etc/3proxy.cfg',
  }],
  ['plugins', 'plugin /usr/lib/PamAuth.so pamauth_start svc\nplugin x ssl_plugin', {
    plugins: [{ module: '/usr/lib/PamAuth.so', options: { legacyEntry: 'pamauth_start', args: ['svc'] } }],
  }, ['PRXWRN007@1', 'PRXWRN004@2']],
  ['a plugin makes its commands known', 'plugin /lib/TransparentPlugin.ld.so transparent_plugin\ntransparent\nnotransparent', {}, ['PRXWRN007@1', 'PRXWRN004@2', 'PRXWRN004@3']],
  ['chroot keeps the privilege drop', 'chroot /jail proxy nogroup', { setuid: 'proxy', setgid: 'nogroup' }, ['PRXWRN004@1']],
  // ---- TLS ------------------------------------------------------------------------------
  ['ssl_serv puts TLS on the following services', 'ssl_server_cert /c.pem\nssl_server_key /k.pem\nssl_server_ca_file /ca.pem\nssl_server_verify\nssl_serv\nproxy -p3129\nssl_noserv\nproxy', {
    services: [{ tls: { cert: '/c.pem', key: '/k.pem', ca: '/ca.pem', requestCert: true } }, { name: 'proxy-3128' }],
  }],
];

const TABLE = CASES.map(([what, text, expected, warnings = []]) => ({ what, text, expected, warnings }));

describe.each(TABLE)('$what', ({ text, expected, warnings }) => {
  const r = convertText(text);
  it('converts without errors', () => expect(errorLines(r)).toEqual([]));
  it('produces the expected config', () => expect(r.config).toMatchObject(expected));
  it('reports the expected warnings', () => expect(codesAt(r)).toEqual(warnings));
});

describe('details toMatchObject cannot see', () => {
  it('omits accessLog on services whose log equals the root one, and acl when empty', () => {
    const s = (convertText('log\nproxy').config['services'] as Record<string, unknown>[])[0];
    expect(s).toEqual({ name: 'proxy-3128', type: 'proxy', listen: '0.0.0.0:3128', auth: ['iponly'] });
  });

  it('writes 3proxy\'s default logformat when a log has none', () => {
    expect(convertText('log /var/log/x').config['accessLog']).toEqual({ to: '/var/log/x', format: 'G%y%m%d%H%M%S.%. %p %E %U %C:%c %R:%r %O %I %h %T' });
  });

  it('drops flags a service ignores, keeping the template options strict', () => {
    const r = convertText('socks -a -T -p1080');
    expect((r.config['services'] as Record<string, unknown>[])[0]).not.toHaveProperty('options');
    expect(codesAt(r)).toEqual(['PRXWRN004@1', 'PRXWRN004@1']);
  });

  it('names source lines in YAML comments', () => {
    const r = convertText('users a:CL:x\nallow a\nproxy -p3128 -a\n');
    expect(r.yaml).toContain('# test.cfg:3: proxy -p3128 -a\n  - name: proxy-3128');
    expect(r.yaml).toContain('# test.cfg:2: allow a\n      - allow: { users: [ a ] }');
    expect(r.yaml).toContain('# test.cfg:1: users a:CL:x\n  a: CL:x');
  });
});
