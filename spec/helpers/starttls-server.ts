/**
 * Test fixtures for STARTTLS: a throw-away certificate made with openssl, and a small
 * IMAP/POP3/SMTP server that speaks the plaintext part, upgrades with tls.TLSSocket on
 * STARTTLS/STLS and then serves just enough of the protocol for curl and openssl s_client.
 * Every reply inside TLS carries "fixture", so a client that reads it got the fixture's bytes.
 */
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lines } from './lines';

export interface TestCert {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  cleanup(): void;
}

/** A self-signed certificate for `name` (its own CA: pass `certFile` as --cacert/-CAfile). */
export function makeCert(name: string): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'rx3-cert-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  return { dir, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type MailProtocol = 'imap' | 'pop3' | 'smtp';

export interface StartTlsSession {
  /** Commands before the upgrade, and inside TLS. */
  readonly plain: string[];
  readonly secure: string[];
  /** The SNI the TLS client sent (false: none), once upgraded. */
  sni: string | false | null;
}

export interface StartTlsFixture {
  readonly port: number;
  readonly sessions: StartTlsSession[];
  /** SMTP DATA bodies received inside TLS. */
  readonly messages: string[];
  close(): Promise<void>;
}

const PLAIN = {
  imap: { greeting: '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fixture ready\r\n' },
  pop3: { greeting: '+OK fixture POP3 ready\r\n' },
  smtp: { greeting: '220 fixture ESMTP\r\n' },
};

/** Answers plaintext commands; true once the client may start TLS. */
function plainCommand(protocol: MailProtocol, line: string, s: Socket, refuse: boolean): boolean {
  const words = line.split(' ');
  if (protocol === 'imap') {
    const [tag = '*', cmd = ''] = words;
    const verb = cmd.toUpperCase();
    if (verb === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n${tag} OK done\r\n`);
    else if (verb === 'STARTTLS') {
      s.write(refuse ? `${tag} NO not today\r\n` : `${tag} OK go ahead\r\n`);
      return !refuse;
    } else s.write(`${tag} BAD plaintext\r\n`);
    return false;
  }
  const verb = (words[0] ?? '').toUpperCase();
  if (protocol === 'pop3') {
    if (verb === 'CAPA') s.write('+OK\r\nSTLS\r\nUSER\r\n.\r\n');
    else if (verb === 'STLS') {
      s.write(refuse ? '-ERR not today\r\n' : '+OK go ahead\r\n');
      return !refuse;
    } else s.write('-ERR plaintext\r\n');
    return false;
  }
  if (verb === 'EHLO') s.write('250-fixture\r\n250 STARTTLS\r\n');
  else if (verb === 'STARTTLS') {
    s.write(refuse ? '454 4.7.0 not today\r\n' : '220 go ahead\r\n');
    return !refuse;
  } else s.write('530 plaintext\r\n');
  return false;
}

const MESSAGE = 'Subject: tls\r\n\r\nhello from the fixture inside TLS\r\n';

async function secureSession(protocol: MailProtocol, t: TLSSocket, rec: StartTlsSession, messages: string[]): Promise<void> {
  const lines = new Lines(t);
  for (let line = await lines.next(); line !== null; line = await lines.next()) {
    rec.secure.push(line);
    const words = line.split(' ');
    if (protocol === 'imap') {
      const [tag = '*', cmd = ''] = words;
      const verb = cmd.toUpperCase();
      if (verb === 'CAPABILITY') t.write(`* CAPABILITY IMAP4rev1 FIXTURE-INSIDE-TLS\r\n${tag} OK done\r\n`);
      else if (verb === 'LOGIN') t.write(`${tag} OK fixture LOGIN completed\r\n`);
      else if (verb === 'LIST') t.write(`* LIST (\\HasNoChildren) "/" FIXTUREBOX\r\n${tag} OK LIST completed\r\n`);
      else if (verb === 'LOGOUT') {
        t.write(`* BYE\r\n${tag} OK LOGOUT completed\r\n`);
        return;
      } else t.write(`${tag} BAD unknown\r\n`);
    } else if (protocol === 'pop3') {
      const verb = (words[0] ?? '').toUpperCase();
      if (verb === 'CAPA') t.write('+OK\r\nUSER\r\nFIXTURE-INSIDE-TLS\r\n.\r\n');
      else if (verb === 'USER' || verb === 'PASS') t.write('+OK\r\n');
      else if (verb === 'LIST') t.write(`+OK 1 messages\r\n1 ${MESSAGE.length}\r\n.\r\n`);
      else if (verb === 'RETR') t.write(`+OK ${MESSAGE.length} octets\r\n${MESSAGE}.\r\n`);
      else if (verb === 'QUIT') {
        t.write('+OK bye\r\n');
        return;
      } else t.write('-ERR unknown\r\n');
    } else {
      const verb = (words[0] ?? '').toUpperCase();
      if (verb === 'EHLO') t.write('250-fixture inside TLS\r\n250 8BITMIME\r\n');
      else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'NOOP' || verb === 'RSET') t.write('250 OK\r\n');
      else if (verb === 'DATA') {
        t.write('354 go ahead\r\n');
        const body: string[] = [];
        for (let l = await lines.next(); l !== null && l !== '.'; l = await lines.next()) body.push(l);
        messages.push(body.join('\r\n'));
        t.write('250 queued by the fixture\r\n');
      } else if (verb === 'QUIT') {
        t.write('221 bye\r\n');
        return;
      } else t.write('502 unknown\r\n');
    }
  }
}

/** `refuse`: answer STARTTLS/STLS with the protocol's refusal instead of upgrading. */
export async function startTlsServer(protocol: MailProtocol, cert: TestCert, o: { refuse?: boolean } = {}): Promise<StartTlsFixture> {
  const sessions: StartTlsSession[] = [];
  const messages: string[] = [];
  const open = new Set<Socket>();
  const serve = async (s: Socket): Promise<void> => {
    const rec: StartTlsSession = { plain: [], secure: [], sni: null };
    sessions.push(rec);
    const lines = new Lines(s);
    s.write(PLAIN[protocol].greeting);
    for (let line = await lines.next(); line !== null; line = await lines.next()) {
      rec.plain.push(line);
      if (!plainCommand(protocol, line, s, o.refuse === true)) continue;
      lines.detach();
      const t = new TLSSocket(s, { isServer: true, key: cert.key, cert: cert.cert });
      t.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        t.once('secure', () => {
          rec.sni = t.servername;
          resolve();
        });
        t.once('close', () => resolve());
      });
      await secureSession(protocol, t, rec, messages);
      t.end();
      return;
    }
  };
  const server: Server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    void serve(s).finally(() => s.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    messages,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export const FIXTURE_MESSAGE = MESSAGE;
