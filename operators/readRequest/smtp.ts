/**
 * `smtp` (3proxy smtpp, submission): the proxy greets with `220 Proxy`, answers HELO/EHLO
 * itself (offering AUTH PLAIN LOGIN) and waits for `AUTH PLAIN` or `AUTH LOGIN` whose user is
 * `[proxyuser:proxypass:]user@host[:port]`. After connecting it reads the server's 220
 * greeting, sends its own `EHLO [address]`, and logs in with the method the server offers
 * (LOGIN first, then PLAIN, as 3proxy does); the server's answer to the last step is relayed
 * to the client as the answer to its AUTH, then everything is relayed.
 *
 * With `defaultHost` (-h) a client that does not authenticate is relayed too: its first other
 * command goes to the server after the proxy's EHLO, and the session is relayed from there.
 *
 * Unless `noStarttls` (-x), EHLO offers STARTTLS and STARTTLS is answered `220 Ready to start
 * TLS`, then the connection goes to tlspr's logic (mail.ts): the server is the ClientHello's
 * SNI (port 25, or -h), upgraded with its own EHLO/STARTTLS. With -x STARTTLS is refused.
 */
import { proxyError } from '../../core/errors';
import { protocolReaders } from './protocols';
import { mailReader, parseConnUser, b64, unb64, errorText, type LineIo, type MailDialect, type Settings, type ConnUser } from './mail';
import { STARTTLS_GO } from './starttls';

/** The client's AUTH credentials, or the command to forward on the -h path. */
export interface SmtpLogin {
  readonly password: string | null;
  readonly command: string | null;
}

const ehlo = (starttls: boolean): string => `250-Proxy\r\n250-AUTH PLAIN LOGIN\r\n${starttls ? '250-STARTTLS\r\n' : ''}250-8BITMIME\r\n250 DSN\r\n`;

async function readAuthLogin(io: LineIo, initial: string): Promise<{ user: string; password: string }> {
  let userB64 = initial;
  if (userB64 === '') {
    io.write('334 VXNlcm5hbWU6\r\n');
    userB64 = await io.line();
  }
  const user = unb64(userB64);
  if (user === null || userB64 === '*') throw proxyError('PRX_ERR_SMTP_BAD_AUTH', 'LOGIN', 'user name is not base64');
  io.write('334 UGFzc3dvcmQ6\r\n');
  const passB64 = await io.line();
  const password = unb64(passB64);
  if (password === null || passB64 === '*') throw proxyError('PRX_ERR_SMTP_BAD_AUTH', 'LOGIN', 'password is not base64');
  return { user, password };
}

async function readAuthPlain(io: LineIo, initial: string): Promise<{ user: string; password: string }> {
  let response = initial;
  if (response === '') {
    io.write('334 \r\n');
    response = await io.line();
  }
  const decoded = response === '*' ? null : unb64(response);
  const parts = decoded?.split('\0');
  // 3proxy refuses an authorization identity: the login itself names the server.
  if (parts === undefined || parts.length !== 3 || parts[0] !== '') throw proxyError('PRX_ERR_SMTP_BAD_AUTH', 'PLAIN', 'expected base64 of \\0user\\0password');
  return { user: parts[1]!, password: parts[2]! };
}

function serverFromDefault(o: Settings): ConnUser | null {
  return o.defaultHost === null ? null : parseConnUser('-', 25, { ...o, proxyCredentials: false });
}

/** Reads a (multi-line) reply; returns its lines. */
async function readReply(io: LineIo): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    const line = await io.line();
    lines.push(line);
    if (line.length < 4 || line.charAt(3) !== '-') return lines;
  }
}

function expect334(line: string, step: string): void {
  if (!line.startsWith('334')) throw proxyError('PRX_ERR_SMTP_UPSTREAM_AUTH', step, line.slice(0, 80));
}

export const smtpDialect: MailDialect<SmtpLogin> = {
  protocol: 'smtp',
  // 3proxy parses the login with port 25 although smtpp listens on 587.
  defaultPort: 25,
  maxLine: 320,
  clientClosed: 'PRX_ERR_SMTP_NO_AUTH',
  serverClosed: 'PRX_ERR_SMTP_NO_GREETING',
  async dialog(io, _state, o) {
    io.write('220 Proxy\r\n');
    for (;;) {
      const line = await io.line();
      const words = line.split(' ').filter((w) => w !== '');
      const cmd = (words[0] ?? '').toUpperCase();
      if (cmd === 'AUTH' && (words[1] ?? '').toUpperCase() === 'LOGIN') {
        const { user, password } = await readAuthLogin(io, words[2] ?? '');
        return login(user, password, o);
      }
      if (cmd === 'AUTH' && (words[1] ?? '').toUpperCase() === 'PLAIN') {
        const { user, password } = await readAuthPlain(io, words[2] ?? '');
        return login(user, password, o);
      }
      if (cmd === 'QUIT') {
        io.write('221 Proxy\r\n');
        return { kind: 'quit' };
      }
      if (cmd === 'STARTTLS' && o.starttls) {
        io.write(STARTTLS_GO.smtp(''));
        return { kind: 'starttls' };
      }
      if (cmd === 'HELO') io.write('250 Proxy\r\n');
      else if (cmd === 'EHLO') io.write(ehlo(o.starttls));
      else if (cmd === 'STARTTLS' || cmd === 'AUTH') io.write('571 need AUTH PLAIN or AUTH LOGIN first\r\n');
      else {
        const conn = serverFromDefault(o);
        if (conn === null) io.write('571 need AUTH first\r\n');
        else return { kind: 'login', conn, login: { password: null, command: line } };
      }
    }
  },
  async replay(io, session, conn, l) {
    const greeting = await readReply(io);
    const last = greeting[greeting.length - 1]!;
    if (!last.startsWith('220') || /^proxy/i.test(last.slice(4))) throw proxyError('PRX_ERR_SMTP_BAD_GREETING', last.slice(0, 80));
    const local = session.target?.localAddress ?? '127.0.0.1';
    io.write(local.includes(':') && !local.startsWith('::ffff:') ? `EHLO [IPv6:${local}]\r\n` : `EHLO [${local.replace(/^::ffff:/, '')}]\r\n`);
    const ehlo = await readReply(io);
    if (!ehlo[ehlo.length - 1]!.startsWith('250')) throw proxyError('PRX_ERR_SMTP_BAD_GREETING', ehlo[ehlo.length - 1]!.slice(0, 80));
    const mechs = new Set(
      ehlo.flatMap((line) => {
        const m = /^250[- ]AUTH[ =](.*)$/i.exec(line);
        return m === null ? [] : m[1]!.toUpperCase().split(/\s+/);
      }),
    );
    const client = session.connection.socket;
    if (l.command !== null) {
      io.write(`${l.command}\r\n`);
      return;
    }
    const password = l.password ?? '';
    if (mechs.has('LOGIN')) {
      io.write('AUTH LOGIN\r\n');
      expect334(await io.line(), 'LOGIN');
      io.write(`${b64(conn.user)}\r\n`);
      expect334(await io.line(), 'LOGIN user');
      io.write(`${b64(password)}\r\n`);
    } else if (mechs.has('PLAIN')) {
      io.write('AUTH PLAIN\r\n');
      expect334(await io.line(), 'PLAIN');
      io.write(`${b64(`\0${conn.user}\0${password}`)}\r\n`);
    } else if (!client.destroyed) {
      // 3proxy's answer when the server takes mail without a login.
      client.write('235 auth required\r\n');
    }
  },
  reply(err) {
    // 421: the client may retry later; 571 is 3proxy's refusal.
    const code = err.code === 'PRX_ERR_REQUEST_TIMEOUT' ? 421 : 571;
    return `${code} ${errorText(err)}\r\n`;
  },
};

function login(user: string, password: string, o: Settings): { kind: 'login'; conn: ConnUser; login: SmtpLogin } {
  const conn = parseConnUser(user, 25, o);
  if (conn === null) throw proxyError('PRX_ERR_SMTP_NO_HOST');
  return { kind: 'login', conn, login: { password, command: null } };
}

protocolReaders.register('smtp', mailReader(smtpDialect));
