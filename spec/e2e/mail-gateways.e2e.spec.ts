/**
 * pop3p, smtpp, imapp end to end: curl is the mail client, small POP3/SMTP/IMAP servers written
 * here are the mail servers. Each fixture refuses a user name that still carries `@host`, so a
 * session that works proves the gateway took the server from the login and passed on only the
 * real user name. Bad input gets the protocol's own error and an access record with its code.
 */
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { Lines } from '../helpers/lines';

const USER = 'alice';
const PASS = 'secret';
const MESSAGE = 'Subject: hi\r\n\r\nhello through the gateway\r\n';

interface Fixture {
  readonly server: Server;
  readonly port: number;
  /** User names the server was asked to log in, with the method. */
  readonly logins: { method: string; user: string; ok: boolean }[];
  readonly messages: string[];
}

async function listen(handler: (socket: Socket, f: Fixture) => Promise<void>): Promise<Fixture> {
  const logins: Fixture['logins'] = [];
  const messages: string[] = [];
  const f = { logins, messages } as unknown as { server: Server; port: number } & Fixture;
  f.server = createServer((socket) => {
    socket.on('error', () => undefined);
    void handler(socket, f).finally(() => socket.end());
  });
  await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
  f.port = (f.server.address() as AddressInfo).port;
  return f;
}

function check(f: Fixture, method: string, user: string, password: string): boolean {
  const ok = !user.includes('@') && user === USER && password === PASS;
  f.logins.push({ method, user, ok });
  return ok;
}

const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

function pop3Fixture(): Promise<Fixture> {
  return listen(async (s, f) => {
    const lines = new Lines(s);
    s.write('+OK fixture POP3 ready <1.2@fixture>\r\n');
    let user = '';
    for (let line = await lines.next(); line !== null; line = await lines.next()) {
      const [cmd = '', arg = ''] = line.split(' ');
      switch (cmd.toUpperCase()) {
        case 'USER':
          user = arg;
          s.write(arg.includes('@') ? '-ERR user name still carries a host\r\n' : '+OK\r\n');
          break;
        case 'PASS':
          s.write(check(f, 'USER', user, arg) ? '+OK logged in\r\n' : '-ERR [AUTH] no\r\n');
          break;
        case 'CAPA':
          s.write('+OK\r\nUSER\r\n.\r\n');
          break;
        case 'STAT':
          s.write(`+OK 1 ${MESSAGE.length}\r\n`);
          break;
        case 'LIST':
          s.write(arg === '' ? `+OK 1 messages\r\n1 ${MESSAGE.length}\r\n.\r\n` : `+OK 1 ${MESSAGE.length}\r\n`);
          break;
        case 'RETR':
          s.write(arg === '1' ? `+OK ${MESSAGE.length} octets\r\n${MESSAGE}.\r\n` : '-ERR no such message\r\n');
          break;
        case 'QUIT':
          s.write('+OK bye\r\n');
          return;
        default:
          s.write('-ERR unknown command\r\n');
      }
    }
  });
}

/** `mechs`: what the server's EHLO offers after AUTH. */
function smtpFixture(mechs: string): Promise<Fixture> {
  return listen(async (s, f) => {
    const lines = new Lines(s);
    s.write('220 fixture ESMTP\r\n');
    for (let line = await lines.next(); line !== null; line = await lines.next()) {
      const [cmd = '', arg = '', initial = ''] = line.split(' ');
      const verb = cmd.toUpperCase();
      if (verb === 'EHLO') s.write(`250-fixture\r\n250-AUTH ${mechs}\r\n250 8BITMIME\r\n`);
      else if (verb === 'AUTH' && arg.toUpperCase() === 'LOGIN') {
        s.write('334 VXNlcm5hbWU6\r\n');
        const u = unb64((await lines.next()) ?? '');
        s.write('334 UGFzc3dvcmQ6\r\n');
        const p = unb64((await lines.next()) ?? '');
        s.write(check(f, 'LOGIN', u, p) ? '235 2.7.0 Authentication successful\r\n' : '535 5.7.8 no\r\n');
      } else if (verb === 'AUTH' && arg.toUpperCase() === 'PLAIN') {
        let response = initial;
        if (response === '') {
          s.write('334 \r\n');
          response = (await lines.next()) ?? '';
        }
        const [, u = '', p = ''] = unb64(response).split('\0');
        s.write(check(f, 'PLAIN', u, p) ? '235 2.7.0 Authentication successful\r\n' : '535 5.7.8 no\r\n');
      } else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') s.write('250 OK\r\n');
      else if (verb === 'DATA') {
        s.write('354 go ahead\r\n');
        const body: string[] = [];
        for (let l = await lines.next(); l !== null && l !== '.'; l = await lines.next()) body.push(l);
        f.messages.push(body.join('\r\n'));
        s.write('250 queued\r\n');
      } else if (verb === 'QUIT') {
        s.write('221 bye\r\n');
        return;
      } else s.write('502 unknown\r\n');
    }
  });
}

/** `greetingCaps`: capabilities in the greeting, or null to answer them only to CAPABILITY. */
function imapFixture(caps: string, inGreeting: boolean): Promise<Fixture> {
  return listen(async (s, f) => {
    const lines = new Lines(s);
    s.write(inGreeting ? `* OK [CAPABILITY IMAP4rev1 ${caps}] fixture ready\r\n` : '* OK fixture ready\r\n');
    for (let line = await lines.next(); line !== null; line = await lines.next()) {
      const [tag = '', cmd = '', ...args] = line.split(' ');
      const verb = cmd.toUpperCase();
      if (verb === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1 ${caps}\r\n${tag} OK done\r\n`);
      else if (verb === 'LOGIN') {
        const [u = '', p = ''] = args.map((a) => a.replace(/^"|"$/g, ''));
        s.write(check(f, 'LOGIN-COMMAND', u, p) ? `${tag} OK LOGIN completed\r\n` : `${tag} NO [AUTHENTICATIONFAILED] no\r\n`);
      } else if (verb === 'AUTHENTICATE' && (args[0] ?? '').toUpperCase() === 'PLAIN') {
        let response = args[1] ?? '';
        if (response === '') {
          s.write('+ \r\n');
          response = (await lines.next()) ?? '';
        }
        const [, u = '', p = ''] = unb64(response).split('\0');
        s.write(check(f, 'PLAIN', u, p) ? `${tag} OK AUTHENTICATE completed\r\n` : `${tag} NO [AUTHENTICATIONFAILED] no\r\n`);
      } else if (verb === 'LIST') s.write(`* LIST (\\HasNoChildren) "/" FIXTUREBOX\r\n${tag} OK LIST completed\r\n`);
      else if (verb === 'LOGOUT') {
        s.write(`* BYE\r\n${tag} OK LOGOUT completed\r\n`);
        return;
      } else s.write(`${tag} BAD unknown\r\n`);
    }
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** URL user info for `user@127.0.0.1:PORT` (curl decodes %40 and %3A). */
const urlUser = (user: string, port: number): string => encodeURIComponent(`${user}@127.0.0.1:${port}`);

const config = (type: string, extra = ''): string => `
version: 1
users: { proxy: "CL:proxypw" }
services:
  - name: gw
    type: ${type}
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
${extra || '    auth: [none]'}
`;

describe('mail gateways', () => {
  let proxy: RunningProxy | null = null;
  const fixtures: Fixture[] = [];
  const fixture = async (f: Promise<Fixture>): Promise<Fixture> => {
    const got = await f;
    fixtures.push(got);
    return got;
  };

  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
      proxy = null;
    }
    for (const f of fixtures.splice(0)) {
      await new Promise((resolve) => f.server.close(resolve));
    }
  });

  describe('pop3p', () => {
    it('curl fetches a message: the server gets USER alice, the log names user@host:port', async () => {
      const srv = await fixture(pop3Fixture());
      proxy = await startProxy(config('pop3p'));
      const gw = proxy.ports['gw']!;
      const r = await curl([`pop3://${urlUser(USER, srv.port)}:${PASS}@127.0.0.1:${gw}/1`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(MESSAGE);
      expect(srv.logins).toEqual([{ method: 'USER', user: USER, ok: true }]);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ service: 'gw', operation: 'CONNECT', code: 0, errorCode: null, host: '127.0.0.1', requestedPort: srv.port, text: `${USER}@127.0.0.1:${srv.port}` });
      expect(rec!.bytesIn).toBeGreaterThan(MESSAGE.length);
    });

    it('takes proxyuser:proxypass: for the auth chain and refuses a wrong proxy password with -ERR', async () => {
      const srv = await fixture(pop3Fixture());
      proxy = await startProxy(config('pop3p', '    auth: [strong]\n    acl: [{ allow: { users: [proxy] } }, { deny: {} }]'));
      const gw = proxy.ports['gw']!;
      const ok = await curl([`pop3://${urlUser(`proxy:proxypw:${USER}`, srv.port)}:${PASS}@127.0.0.1:${gw}/1`]);
      expect(ok.stdout).toBe(MESSAGE);
      const [good] = await proxy.waitForRecords(1);
      expect(good).toMatchObject({ user: 'proxy', code: 0, text: `${USER}@127.0.0.1:${srv.port}` });

      const c = await tcpConnect(gw);
      const lines = new Lines(c);
      expect(await lines.next()).toBe('+OK Proxy');
      c.write(`USER proxy:wrong:${USER}@127.0.0.1:${srv.port}\r\n`);
      expect(await lines.next()).toMatch(/^-ERR .*PRX_ERR_AUTH_BAD_PASSWORD/);
      await closed(c);
      const [, bad] = await proxy.waitForRecords(2);
      expect(bad).toMatchObject({ user: 'proxy', errorCode: 'PRX_ERR_AUTH_BAD_PASSWORD', code: 6 });
      expect(srv.logins).toHaveLength(1);
    });

    it('answers garbage with -ERR, and a USER without @host with -ERR and a 615 record', async () => {
      const srv = await fixture(pop3Fixture());
      proxy = await startProxy(config('pop3p'));
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      expect(await lines.next()).toBe('+OK Proxy');
      c.write('HELLO THERE\r\n');
      expect(await lines.next()).toBe('-ERR need USER first');
      c.write('USER alice\r\n');
      expect(await lines.next()).toMatch(/^-ERR .*PRX_ERR_POP3_NO_HOST/);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_POP3_NO_HOST', code: 615, operation: 'CONNECT' });
      expect(srv.logins).toEqual([]);
    });

    it('uses defaultHost (-h) when USER names no server', async () => {
      const srv = await fixture(pop3Fixture());
      proxy = await startProxy(config('pop3p', `    auth: [none]\n    options: { defaultHost: "127.0.0.1:${srv.port}" }`));
      const r = await curl([`pop3://${USER}:${PASS}@127.0.0.1:${proxy.ports['gw']!}/1`]);
      expect(r.stdout).toBe(MESSAGE);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ code: 0, text: `${USER}@127.0.0.1:${srv.port}` });
    });

    it('answers an unreachable server with -ERR and logs the connect error', async () => {
      const port = await freePort();
      proxy = await startProxy(config('pop3p'));
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      await lines.next();
      c.write(`USER ${USER}@127.0.0.1:${port}\r\n`);
      expect(await lines.next()).toMatch(/^-ERR .*PRX_ERR_CONNECT_REFUSED/);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_CONNECT_REFUSED', code: 13, requestedPort: port });
    });

    it('refuses a server that greets like a proxy (loop guard, 622), and its own address at once (519)', async () => {
      // Another gateway as the "server": its "+OK Proxy" greeting must be refused.
      const other = await startProxy(config('pop3p'));
      proxy = await startProxy(config('pop3p'));
      try {
        const c = await tcpConnect(proxy.ports['gw']!);
        const lines = new Lines(c);
        await lines.next();
        c.write(`USER ${USER}@127.0.0.1:${other.ports['gw']!}\r\n`);
        expect(await lines.next()).toMatch(/^-ERR .*PRX_ERR_POP3_BAD_GREETING/);
        await closed(c);
        const [rec] = await proxy.waitForRecords(1);
        expect(rec!.errorCode).toBe('PRX_ERR_POP3_BAD_GREETING');
        // The gateway's own address is refused before any connection is made.
        const self = await tcpConnect(proxy.ports['gw']!);
        const selfLines = new Lines(self);
        await selfLines.next();
        self.write(`USER ${USER}@127.0.0.1:${proxy.ports['gw']!}\r\n`);
        expect(await selfLines.next()).toMatch(/^-ERR .*PRX_ERR_REQUEST_RECURSION/);
        await closed(self);
        expect((await proxy.waitForRecords(2))[1]!.errorCode).toBe('PRX_ERR_REQUEST_RECURSION');
      } finally {
        await other.stop();
      }
    });
  });

  describe('smtpp', () => {
    it.each([['LOGIN PLAIN', 'LOGIN'], ['PLAIN', 'PLAIN']])('curl sends mail; server offering %s gets AUTH %s as alice', async (mechs, method) => {
      const srv = await fixture(smtpFixture(mechs));
      proxy = await startProxy(config('smtpp'));
      const dir = mkdtempSync(join(tmpdir(), 'smtpp-'));
      const file = join(dir, 'mail.txt');
      writeFileSync(file, MESSAGE);
      const gw = proxy.ports['gw']!;
      const r = await curl([`smtp://${urlUser(USER, srv.port)}:${PASS}@127.0.0.1:${gw}/client.test`, '--mail-from', 'a@example.org', '--mail-rcpt', 'b@example.org', '-T', file]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(srv.logins).toEqual([{ method, user: USER, ok: true }]);
      expect(srv.messages).toEqual([MESSAGE.replace(/\r\n$/, '')]);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ code: 0, operation: 'CONNECT', text: `${USER}@127.0.0.1:${srv.port}`, requestedPort: srv.port });
    });

    it('refuses an AUTH user without @host with 571, logged; garbage before AUTH gets 571 too', async () => {
      const srv = await fixture(smtpFixture('LOGIN PLAIN'));
      proxy = await startProxy(config('smtpp'));
      const c = await tcpConnect(proxy.ports['gw']!);
      const lines = new Lines(c);
      expect(await lines.next()).toBe('220 Proxy');
      c.write('MAIL FROM:<a@example.org>\r\n');
      expect(await lines.next()).toBe('571 need AUTH first');
      c.write(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}\r\n`);
      expect(await lines.next()).toMatch(/^571 .*PRX_ERR_SMTP_NO_HOST/);
      await closed(c);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_SMTP_NO_HOST', code: 100 });
      expect(srv.logins).toEqual([]);
    });

    it('curl fails on a login without @host (the gateway never reaches a server)', async () => {
      proxy = await startProxy(config('smtpp'));
      const r = await curl([`smtp://${USER}:${PASS}@127.0.0.1:${proxy.ports['gw']!}/x`, '--mail-from', 'a@example.org', '--mail-rcpt', 'b@example.org', '-T', '/dev/null']);
      expect(r.code).not.toBe(0);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_SMTP_NO_HOST' });
    });
  });

  describe('imapp', () => {
    it.each([
      ['AUTH=PLAIN in the greeting', 'AUTH=PLAIN', true, 'PLAIN'],
      ['no AUTH= capability (asked with CAPABILITY)', '', false, 'LOGIN-COMMAND'],
    ])('curl lists mailboxes; server with %s (caps "%s", in greeting: %s) gets %s as alice', async (_name, caps, inGreeting, method) => {
      const srv = await fixture(imapFixture(caps, inGreeting));
      proxy = await startProxy(config('imapp'));
      const gw = proxy.ports['gw']!;
      const r = await curl([`imap://${urlUser(USER, srv.port)}:${PASS}@127.0.0.1:${gw}/`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('FIXTUREBOX');
      expect(srv.logins).toEqual([{ method, user: USER, ok: true }]);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ code: 0, operation: 'CONNECT', text: `${USER}@127.0.0.1:${srv.port}` });
    });

    it('answers LOGIN without @host with tag NO (694) and a line without a tag with * BAD (692)', async () => {
      const srv = await fixture(imapFixture('AUTH=PLAIN', true));
      proxy = await startProxy(config('imapp'));
      const gw = proxy.ports['gw']!;
      const c = await tcpConnect(gw);
      const lines = new Lines(c);
      expect(await lines.next()).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN\]/);
      c.write('a1 NOOP\r\n');
      expect(await lines.next()).toBe('a1 BAD need LOGIN first');
      c.write(`a2 LOGIN ${USER} ${PASS}\r\n`);
      expect(await lines.next()).toMatch(/^a2 NO .*PRX_ERR_IMAP_NO_HOST/);
      await closed(c);

      const g = await tcpConnect(gw);
      const glines = new Lines(g);
      await glines.next();
      g.write('GARBAGE\r\n');
      expect(await glines.next()).toMatch(/^\* BAD .*PRX_ERR_IMAP_BAD_COMMAND/);
      await closed(g);
      const recs = await proxy.waitForRecords(2);
      expect(recs.map((r) => [r.errorCode, r.code])).toEqual([
        ['PRX_ERR_IMAP_NO_HOST', 694],
        ['PRX_ERR_IMAP_BAD_COMMAND', 692],
      ]);
      expect(srv.logins).toEqual([]);
    });

    it('curl gets a login failure for an unreachable server; the record has the connect error', async () => {
      const port = await freePort();
      proxy = await startProxy(config('imapp'));
      const r = await curl([`imap://${urlUser(USER, port)}:${PASS}@127.0.0.1:${proxy.ports['gw']!}/`]);
      expect(r.code).not.toBe(0);
      const [rec] = await proxy.waitForRecords(1);
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_CONNECT_REFUSED', requestedPort: port });
    });
  });
});
