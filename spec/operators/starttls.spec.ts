/**
 * The plaintext STARTTLS exchanges on duplexPair streams: the client side of tlspr's starttls
 * mode, and the server side (greeting, STARTTLS/STLS, go-ahead) with refusals and the bytes
 * that follow the go-ahead left for the relay.
 */
import { duplexPair, type Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { LineIo } from '../../operators/readRequest/line-io';
import { clientStartTls, serverStartTls, type StartTlsProtocol } from '../../operators/readRequest/starttls';
import { proxyError, type ProxyError } from '../../core/errors';
import type { Session } from '../../core/session';

/** Collects what one side wrote, line by line, and answers each line with `answer`. */
function scripted(peer: Duplex, answer: (line: string) => string | null): string[] {
  const seen: string[] = [];
  let buf = '';
  peer.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      seen.push(line);
      const reply = answer(line);
      if (reply !== null) peer.write(reply);
    }
  });
  return seen;
}

function sessionWithTarget(target: Duplex): Session {
  return { target: target as unknown as Socket } as unknown as Session;
}

const TLS = '\x16\x03\x01';

describe('serverStartTls', () => {
  it.each<[StartTlsProtocol, string, (line: string) => string | null, string[]]>([
    // The first TLS bytes come right behind the go-ahead, in the same chunk.
    ['imap', '* OK ready\r\n', (l) => (l === 'tls1 STARTTLS' ? `* NOTE untagged\r\ntls1 OK go\r\n${TLS}` : null), ['tls1 STARTTLS']],
    ['pop3', '+OK ready\r\n', (l) => (l === 'STLS' ? `+OK go\r\n${TLS}` : null), ['STLS']],
    ['smtp', '220-first\r\n220 ready\r\n', (l) => (l.startsWith('EHLO') ? '250-x\r\n250 STARTTLS\r\n' : l === 'STARTTLS' ? `220 go\r\n${TLS}` : null), ['EHLO [127.0.0.1]', 'STARTTLS']],
  ])('%s: greeting, upgrade command, go-ahead; the next bytes stay for the relay', async (protocol, greeting, answer, sent) => {
    const [proxySide, server] = duplexPair();
    const seen = scripted(server, answer);
    server.write(greeting);
    await serverStartTls(sessionWithTarget(proxySide), protocol, 2000);
    expect(seen).toEqual(sent);
    // Released paused, as the relay finds it; piping resumes it.
    const next = new Promise<Buffer>((resolve) => proxySide.once('data', resolve));
    proxySide.resume();
    expect([...(await next)]).toEqual([0x16, 0x03, 0x01]);
  });

  it.each<[StartTlsProtocol, string, (line: string) => string | null]>([
    ['imap', '* BYE go away\r\n', () => null],
    ['imap', '* OK ready\r\n', (l) => (l.endsWith('STARTTLS') ? 'tls1 NO not now\r\n' : null)],
    ['pop3', '-ERR busy\r\n', () => null],
    ['smtp', '220 ready\r\n', (l) => (l.startsWith('EHLO') ? '250 ok\r\n' : '454 4.7.0 TLS not available\r\n')],
    ['smtp', '554 no service\r\n', () => null],
  ])('%s: refuses greeting %j (or its STARTTLS answer) with PRX_ERR_TLS_UPSTREAM_STARTTLS', async (protocol, greeting, answer) => {
    const [proxySide, server] = duplexPair();
    scripted(server, answer);
    server.write(greeting);
    await expect(serverStartTls(sessionWithTarget(proxySide), protocol, 2000)).rejects.toMatchObject({ code: 'PRX_ERR_TLS_UPSTREAM_STARTTLS' });
  });

  it('a server that closes first is PRX_ERR_TLS_UPSTREAM_STARTTLS', async () => {
    const [proxySide, server] = duplexPair();
    server.end();
    await expect(serverStartTls(sessionWithTarget(proxySide), 'pop3', 2000)).rejects.toMatchObject({ code: 'PRX_ERR_TLS_UPSTREAM_STARTTLS' });
  });
});

describe('clientStartTls', () => {
  const run = (protocol: StartTlsProtocol, lines: string[]): Promise<{ result: boolean | ProxyError; heard: string[] }> => {
    const [proxySide, client] = duplexPair();
    const heard = scripted(client, () => null);
    const io = new LineIo(proxySide as unknown as Socket, () => proxyError('PRX_ERR_TLS_NO_STARTTLS', 'client closed'), 2048);
    const done = clientStartTls(io, protocol).then(
      (r) => r,
      (e: ProxyError) => e,
    );
    client.write(lines.map((l) => `${l}\r\n`).join(''));
    if (!lines.some((l) => /STARTTLS|STLS|QUIT|LOGOUT/i.test(l))) client.end();
    return done.then(async (result) => {
      io.release();
      await new Promise((r) => setImmediate(r));
      return { result, heard };
    });
  };

  it('smtp: EHLO offers STARTTLS, RSET is fine, MAIL is refused, STARTTLS goes ahead', async () => {
    const { result, heard } = await run('smtp', ['EHLO me', 'RSET', 'MAIL FROM:<a@b>', 'STARTTLS']);
    expect(result).toBe(true);
    expect(heard).toEqual(['220 Proxy ESMTP', '250-Proxy', '250 STARTTLS', '250 2.0.0 OK', '530 5.7.0 Must issue a STARTTLS command first', '220 2.0.0 Ready to start TLS']);
  });

  it('imap: LOGOUT ends the dialog without TLS', async () => {
    const { result, heard } = await run('imap', ['a1 NOOP', 'a2 LOGOUT']);
    expect(result).toBe(false);
    expect(heard.slice(1)).toEqual(['a1 OK NOOP completed', '* BYE', 'a2 OK LOGOUT completed']);
  });

  it('pop3: a client that leaves before STLS is PRX_ERR_TLS_NO_STARTTLS', async () => {
    const { result, heard } = await run('pop3', ['USER alice']);
    expect(result).toMatchObject({ code: 'PRX_ERR_TLS_NO_STARTTLS' });
    expect(heard).toEqual(['+OK Proxy', '-ERR need STLS first']);
  });
});
