/**
 * The mail gateways' STARTTLS hand-off end to end: curl --ssl-reqd asks the gateway for
 * STARTTLS/STLS, the gateway says go ahead and hands the connection to tlspr's logic, which
 * takes the server from the SNI, upgrades the fixture with its own STARTTLS and relays TLS
 * end to end. curl checks the fixture's certificate (--cacert); the login and the mail happen
 * inside TLS, where only the fixture reads them. With noStarttls (-x) curl gets no STARTTLS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, sClient, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { Lines } from '../helpers/lines';
import { FIXTURE_MESSAGE, makeCert, startTlsServer, type MailProtocol, type StartTlsFixture, type TestCert } from '../helpers/starttls-server';

const NAME = 'mail.test';
const TYPE: Record<MailProtocol, string> = { pop3: 'pop3p', imap: 'imapp', smtp: 'smtpp' };

describe('mail gateways STARTTLS hand-off', () => {
  let cert: TestCert;
  let proxy: RunningProxy | null = null;
  let fixture: StartTlsFixture | null = null;

  beforeAll(() => {
    cert = makeCert(NAME);
  });
  afterEach(async () => {
    if (proxy !== null) {
      await proxy.stop();
      expect(proxy.rt.liveConnections()).toBe(0);
    }
    await fixture?.close();
    proxy = null;
    fixture = null;
  });
  afterAll(() => cert.cleanup());

  const config = (protocol: MailProtocol, port: number, extra = ''): string => `
version: 1
resolver: { hosts: { ${NAME}: 127.0.0.1 } }
services:
  - name: gw
    type: ${TYPE[protocol]}
    listen: 127.0.0.1:0
    auth: [none]
    timeouts: { handshake: 5s }
    options: { tlsPort: ${port} ${extra} }
    accessLog: { to: none, format: json }
`;

  const url = (scheme: string, port: number, path = ''): string[] => ['--ssl-reqd', '--cacert', cert.certFile, '--resolve', `${NAME}:${port}:127.0.0.1`, `${scheme}://${NAME}:${port}/${path}`];

  async function expectHandoff(proxyUp: RunningProxy, f: StartTlsFixture): Promise<void> {
    expect(f.sessions).toHaveLength(1);
    expect(f.sessions[0]!.sni).toBe(NAME);
    const [rec] = await proxyUp.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'gw', operation: 'CONNECT', host: NAME, requestedPort: f.port, code: 0 });
    expect(rec!.text).toContain(NAME);
  }

  it('pop3p: curl --ssl-reqd retrieves the message through STLS, logged in inside TLS', async () => {
    fixture = await startTlsServer('pop3', cert);
    proxy = await startProxy(config('pop3', fixture.port));
    const r = await curl(['-u', 'alice:secret', ...url('pop3', proxy.ports['gw']!, '1')]);
    expect(r.stderr).toBe('');
    expect(r.stdout.replace(/\r\n/g, '\n')).toBe(FIXTURE_MESSAGE.replace(/\r\n/g, '\n'));
    // The proxy's STLS went out in plaintext; the user name only inside TLS, unchanged.
    expect(fixture.sessions[0]!.plain).toEqual(['STLS']);
    expect(fixture.sessions[0]!.secure).toContain('USER alice');
    await expectHandoff(proxy, fixture);
  });

  it('imapp: curl --ssl-reqd lists mailboxes through STARTTLS', async () => {
    fixture = await startTlsServer('imap', cert);
    proxy = await startProxy(config('imap', fixture.port));
    const r = await curl(['-u', 'alice:secret', ...url('imap', proxy.ports['gw']!)]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('FIXTUREBOX');
    expect(fixture.sessions[0]!.plain).toEqual(['tls1 STARTTLS']);
    expect(fixture.sessions[0]!.secure.some((l) => /LOGIN alice secret/.test(l))).toBe(true);
    await expectHandoff(proxy, fixture);
  });

  it('smtpp: curl --ssl-reqd sends a message through STARTTLS', async () => {
    fixture = await startTlsServer('smtp', cert);
    proxy = await startProxy(config('smtp', fixture.port));
    const mail = join(cert.dir, 'mail.txt');
    writeFileSync(mail, 'Subject: through TLS\r\n\r\nsent end to end\r\n');
    const r = await curl(['--mail-from', 'a@example.org', '--mail-rcpt', 'b@example.org', '-T', mail, ...url('smtp', proxy.ports['gw']!)]);
    expect(r.stderr).toBe('');
    expect(fixture.messages).toEqual([expect.stringContaining('sent end to end')]);
    expect(fixture.sessions[0]!.plain).toEqual([expect.stringMatching(/^EHLO \[127\.0\.0\.1\]$/), 'STARTTLS']);
    await expectHandoff(proxy, fixture);
  });

  it.each(['pop3', 'imap', 'smtp'] as const)('%s with noStarttls (-x): STARTTLS is not offered, curl --ssl-reqd gives up', async (protocol) => {
    fixture = await startTlsServer(protocol, cert);
    proxy = await startProxy(config(protocol, fixture.port, ', noStarttls: true'));
    const args = protocol === 'smtp' ? ['--mail-from', 'a@example.org', '--mail-rcpt', 'b@example.org', '-T', '/dev/null'] : ['-u', 'alice:secret'];
    const r = await curl([...args, ...url(protocol, proxy.ports['gw']!)]);
    expect(r.code).toBe(64); // CURLE_USE_SSL_FAILED
    expect(fixture.sessions).toHaveLength(0);
  });

  it('pop3p -x answers STLS with -ERR as any other command before USER', async () => {
    fixture = await startTlsServer('pop3', cert);
    proxy = await startProxy(config('pop3', fixture.port, ', noStarttls: true'));
    const c = await tcpConnect(proxy.ports['gw']!);
    const lines = new Lines(c);
    expect(await lines.next()).toBe('+OK Proxy');
    c.write('CAPA\r\n');
    expect([await lines.next(), await lines.next(), await lines.next()]).toEqual(['+OK Capability list follows', 'USER', '.']);
    c.write('STLS\r\n');
    expect(await lines.next()).toBe('-ERR need USER first');
    c.write('QUIT\r\n');
    expect(await lines.next()).toBe('+OK');
    await closed(c);
  });

  it('garbage instead of a ClientHello after STARTTLS is logged PRX_ERR_TLS_NO_HELLO and closed', async () => {
    fixture = await startTlsServer('imap', cert);
    proxy = await startProxy(config('imap', fixture.port));
    const c = await tcpConnect(proxy.ports['gw']!);
    const lines = new Lines(c);
    expect(await lines.next()).toContain('STARTTLS');
    c.write('a1 STARTTLS\r\n');
    expect(await lines.next()).toBe('a1 OK Begin TLS negotiation');
    lines.detach();
    // Not a ClientHello at all after STARTTLS.
    c.write('a2 LOGIN alice secret\r\n');
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'gw', errorCode: 'PRX_ERR_TLS_NO_HELLO' });
    expect(fixture.sessions).toHaveLength(0);
  });

  it('imapp: a ClientHello without a name goes to defaultHost (-h)', async () => {
    fixture = await startTlsServer('imap', cert);
    proxy = await startProxy(config('imap', fixture.port, `, defaultHost: '127.0.0.1:${fixture.port}'`));
    const r = await sClient(['-starttls', 'imap', '-connect', `127.0.0.1:${proxy.ports['gw']!}`, '-noservername', '-CAfile', cert.certFile], 'a1 CAPABILITY', 'FIXTURE-INSIDE-TLS');
    expect(r.stdout).toContain('FIXTURE-INSIDE-TLS');
    expect(fixture.sessions[0]!.sni).toBe(false);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ host: '127.0.0.1', requestedPort: fixture.port });
  });
});
