/**
 * tlspr's STARTTLS modes end to end: openssl s_client -starttls imap|pop3|smtp talks to the
 * proxy, which speaks the plaintext part with it, takes the server from the SNI, upgrades the
 * fixture server with its own STARTTLS and relays the TLS session untouched: the certificate
 * s_client verifies and the replies it reads come from the fixture.
 */
import { sClient, tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { Lines } from '../helpers/lines';
import { makeCert, startTlsServer, type MailProtocol, type StartTlsFixture, type TestCert } from '../helpers/starttls-server';

const NAME = 'mail.test';

/** A command to send inside TLS and what only the fixture answers to it. */
const PROBE: Record<MailProtocol, { command: string; answer: string; plain: string }> = {
  imap: { command: 'a1 CAPABILITY', answer: 'FIXTURE-INSIDE-TLS', plain: 'STARTTLS' },
  pop3: { command: 'CAPA', answer: 'FIXTURE-INSIDE-TLS', plain: 'STLS' },
  smtp: { command: 'EHLO client', answer: 'fixture inside TLS', plain: 'STARTTLS' },
};

describe('tlspr starttls modes', () => {
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

  const config = (protocol: MailProtocol, port: number): string => `
version: 1
resolver: { hosts: { ${NAME}: 127.0.0.1 } }
services:
  - name: st
    type: tlspr
    listen: 127.0.0.1:0
    auth: [none]
    timeouts: { handshake: 5s }
    options: { starttls: ${protocol}, tlsPort: ${port} }
    accessLog: { to: none, format: json }
`;

  it.each(['imap', 'pop3', 'smtp'] as const)('%s: s_client -starttls verifies the fixture certificate and reads its replies', async (protocol) => {
    fixture = await startTlsServer(protocol, cert);
    proxy = await startProxy(config(protocol, fixture.port));
    const probe = PROBE[protocol];
    const r = await sClient(
      ['-starttls', protocol, '-connect', `127.0.0.1:${proxy.ports['st']!}`, '-servername', NAME, '-CAfile', cert.certFile, '-verify_return_error'],
      probe.command,
      probe.answer,
    );
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    expect(r.stdout).toContain(`CN = ${NAME}`);
    expect(r.stdout).toContain(probe.answer);
    expect(fixture.sessions).toHaveLength(1);
    const session = fixture.sessions[0]!;
    expect(session.sni).toBe(NAME);
    // The fixture's plaintext STARTTLS came from the proxy; the probe arrived inside TLS.
    expect(session.plain.some((l) => l.toUpperCase().includes(probe.plain))).toBe(true);
    expect(session.secure).toContain(probe.command);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'st', operation: 'CONNECT', host: NAME, requestedPort: fixture.port });
    expect(rec!.text).toContain(NAME);
  });

  it('answers commands before STARTTLS with the protocol error and logs a client that leaves', async () => {
    fixture = await startTlsServer('imap', cert);
    proxy = await startProxy(config('imap', fixture.port));
    const c = await tcpConnect(proxy.ports['st']!);
    const lines = new Lines(c);
    expect(await lines.next()).toMatch(/^\* OK \[CAPABILITY [^\]]*STARTTLS/);
    c.write('a1 LOGIN alice secret\r\n');
    expect(await lines.next()).toBe('a1 BAD need STARTTLS first');
    c.write('garbage\r\n');
    expect(await lines.next()).toBe('* BAD no tag');
    c.end();
    await closed(c);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ service: 'st', errorCode: 'PRX_ERR_TLS_NO_STARTTLS' });
    expect(fixture.sessions).toHaveLength(0);
  });

  it('smtp: refuses MAIL before STARTTLS with 530', async () => {
    fixture = await startTlsServer('smtp', cert);
    proxy = await startProxy(config('smtp', fixture.port));
    const c = await tcpConnect(proxy.ports['st']!);
    const lines = new Lines(c);
    expect(await lines.next()).toMatch(/^220 /);
    c.write('MAIL FROM:<a@b>\r\n');
    expect(await lines.next()).toMatch(/^530 /);
    c.write('QUIT\r\n');
    expect(await lines.next()).toMatch(/^221 /);
    await closed(c);
    expect(fixture.sessions).toHaveLength(0);
  });

  it('pop3: CAPA lists STLS, USER before STLS gets -ERR, QUIT ends without a record', async () => {
    fixture = await startTlsServer('pop3', cert);
    proxy = await startProxy(config('pop3', fixture.port));
    const c = await tcpConnect(proxy.ports['st']!);
    const lines = new Lines(c);
    expect(await lines.next()).toBe('+OK Proxy');
    c.write('CAPA\r\n');
    expect([await lines.next(), await lines.next(), await lines.next()]).toEqual(['+OK Capability list follows', 'STLS', '.']);
    c.write('USER alice@mail.test\r\n');
    expect(await lines.next()).toBe('-ERR need STLS first');
    c.write('QUIT\r\n');
    expect(await lines.next()).toBe('+OK');
    await closed(c);
    expect(fixture.sessions).toHaveLength(0);
  });

  it('logs PRX_ERR_TLS_UPSTREAM_STARTTLS when the server refuses STLS, and closes the client', async () => {
    fixture = await startTlsServer('pop3', cert, { refuse: true });
    proxy = await startProxy(config('pop3', fixture.port));
    const r = await sClient(['-starttls', 'pop3', '-connect', `127.0.0.1:${proxy.ports['st']!}`, '-servername', NAME, '-CAfile', cert.certFile], 'CAPA', 'never');
    expect(r.code).not.toBe(0);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_TLS_UPSTREAM_STARTTLS', host: NAME });
    expect(fixture.sessions[0]!.plain).toContain('STLS');
    expect(fixture.sessions[0]!.sni).toBeNull();
  });

  it('logs PRX_ERR_TLS_NO_SNI for a ClientHello without a name after STARTTLS', async () => {
    fixture = await startTlsServer('imap', cert);
    proxy = await startProxy(config('imap', fixture.port));
    const r = await sClient(['-starttls', 'imap', '-connect', `127.0.0.1:${proxy.ports['st']!}`, '-noservername'], 'a1 CAPABILITY', 'never');
    expect(r.code).not.toBe(0);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ errorCode: 'PRX_ERR_TLS_NO_SNI' });
    expect(fixture.sessions).toHaveLength(0);
  });
});
