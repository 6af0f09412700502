/**
 * `imap` (3proxy imapp): the proxy greets with `* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN
 * AUTH=LOGIN]`, answers CAPABILITY and LOGOUT itself and waits for `tag LOGIN user@host[:port]
 * pass`, `tag AUTHENTICATE PLAIN` or `tag AUTHENTICATE LOGIN`. After connecting it reads the
 * server's `* OK`, learns its AUTH= capabilities (from the greeting or a CAPABILITY command)
 * and logs in under the client's tag with the method the server offers: the client's own if
 * possible, else PLAIN, LOGIN, or the LOGIN command. The server's tagged answer is relayed.
 *
 * The mail password doubles as the proxy password when the login carries no
 * `proxyuser:proxypass:` prefix (3proxy does the same).
 *
 * Unless `noStarttls` (-x), the capabilities list STARTTLS and STARTTLS is answered `tag OK
 * Begin TLS negotiation` (3proxy's words), then the connection goes to tlspr's logic (mail.ts):
 * the server is the ClientHello's SNI (port 143, or -h), upgraded with its own STARTTLS.
 */
import { proxyError } from '../../core/errors';
import { protocolReaders } from './protocols';
import { mailReader, parseConnUser, b64, unb64, errorText, type LineIo, type MailDialect, type Settings, type ConnUser, type DialogResult } from './mail';
import { STARTTLS_GO } from './starttls';

export type ImapMethod = 'LOGIN-COMMAND' | 'PLAIN' | 'LOGIN';

export interface ImapLogin {
  readonly method: ImapMethod;
  readonly password: string;
}

const caps = (starttls: boolean): string => `IMAP4rev1${starttls ? ' STARTTLS' : ''} AUTH=PLAIN AUTH=LOGIN`;
const MAX_TAG = 63;

/** An IMAP quoted string starting at `s[0] === '"'`; returns the value and what follows. */
function quoted(s: string): { value: string; rest: string } | null {
  let value = '';
  for (let i = 1; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === '\\' && i + 1 < s.length) value += s.charAt(++i);
    else if (c === '"') return { value, rest: s.slice(i + 1) };
    else value += c;
  }
  return null;
}

/**
 * `user pass` of LOGIN: each a quoted string or an atom; an unquoted password runs to the end
 * of the line (3proxy takes the rest of the line, so passwords with spaces keep working).
 */
export function parseLoginArgs(args: string): { user: string; password: string } | null {
  let user: string;
  let rest: string;
  if (args.startsWith('"')) {
    const q = quoted(args);
    if (q === null) return null;
    user = q.value;
    rest = q.rest;
  } else {
    const sp = args.indexOf(' ');
    if (sp < 0) return null;
    user = args.slice(0, sp);
    rest = args.slice(sp);
  }
  if (!rest.startsWith(' ')) return null;
  rest = rest.slice(1);
  let password = rest;
  if (rest.startsWith('"')) {
    const q = quoted(rest);
    if (q === null || q.rest.trim() !== '') return null;
    password = q.value;
  } else if (rest.startsWith('{')) return null; // literals are not read before the login
  return { user, password };
}

export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function login(user: string, password: string, method: ImapMethod, o: Settings): DialogResult<ImapLogin> {
  const conn = parseConnUser(user, 143, o);
  if (conn === null) throw proxyError('PRX_ERR_IMAP_NO_HOST');
  return { kind: 'login', conn, login: { method, password } };
}

async function continuation(io: LineIo, prompt: string): Promise<string> {
  io.write(`+ ${prompt}\r\n`);
  const line = await io.line();
  if (line === '*') throw proxyError('PRX_ERR_IMAP_BAD_LOGIN', 'AUTHENTICATE', 'cancelled');
  return line;
}

function decode(line: string, what: string): string {
  const v = unb64(line);
  if (v === null) throw proxyError('PRX_ERR_IMAP_BAD_LOGIN', what, 'not base64');
  return v;
}

/** AUTH= mechanisms in a CAPABILITY list (greeting code or untagged response). */
function authCaps(text: string, into: Set<string>): void {
  for (const m of text.toUpperCase().matchAll(/\bAUTH=([A-Z0-9_-]+)/g)) into.add(m[1]!);
  if (/\bSASL-IR\b/i.test(text)) into.add('SASL-IR');
}

/** 3proxy's choice: keep the client's method when the server has it, else the first it has. */
export function chooseMethod(asked: ImapMethod, caps: ReadonlySet<string>): ImapMethod {
  const plain = caps.has('PLAIN');
  const log = caps.has('LOGIN');
  if (asked === 'PLAIN' && !plain) return log ? 'LOGIN' : 'LOGIN-COMMAND';
  if (asked === 'LOGIN' && !log) return plain ? 'PLAIN' : 'LOGIN-COMMAND';
  if (asked === 'LOGIN-COMMAND' && (plain || log)) return plain ? 'PLAIN' : 'LOGIN';
  return asked;
}

async function expectPlus(io: LineIo, step: string): Promise<void> {
  const line = await io.line();
  if (!line.startsWith('+')) throw proxyError('PRX_ERR_IMAP_UPSTREAM_LOGIN', step, line.slice(0, 80));
}

export const imapDialect: MailDialect<ImapLogin> = {
  protocol: 'imap',
  defaultPort: 143,
  maxLine: 2048,
  clientClosed: 'PRX_ERR_IMAP_BAD_COMMAND',
  serverClosed: 'PRX_ERR_IMAP_NO_GREETING',
  async dialog(io, state, o) {
    io.write(`* OK [CAPABILITY ${caps(o.starttls)}] IMAP4rev1 Proxy Ready\r\n`);
    for (;;) {
      const line = await io.line();
      const sp = line.indexOf(' ');
      if (sp <= 0 || sp > MAX_TAG) throw proxyError('PRX_ERR_IMAP_BAD_COMMAND', 'no tag');
      const tag = line.slice(0, sp);
      state.tag = tag;
      const cmdLine = line.slice(sp + 1);
      const [word = '', arg1 = '', arg2 = ''] = cmdLine.split(' ');
      const cmd = word.toUpperCase();
      if (cmd === 'LOGOUT') {
        io.write(`* BYE\r\n${tag} OK LOGOUT completed\r\n`);
        return { kind: 'quit' };
      }
      if (cmd === 'CAPABILITY') {
        io.write(`* CAPABILITY ${caps(o.starttls)}\r\n${tag} OK CAPABILITY completed\r\n`);
        continue;
      }
      if (cmd === 'STARTTLS' && o.starttls) {
        io.write(STARTTLS_GO.imap(tag));
        return { kind: 'starttls' };
      }
      if (cmd === 'LOGIN') {
        const args = parseLoginArgs(cmdLine.slice(word.length + 1));
        if (args === null) throw proxyError('PRX_ERR_IMAP_BAD_LOGIN', 'LOGIN', 'expected LOGIN user password');
        return login(args.user, args.password, 'LOGIN-COMMAND', o);
      }
      if (cmd === 'AUTHENTICATE' && arg1.toUpperCase() === 'PLAIN') {
        const text = decode(arg2 !== '' ? arg2 : await continuation(io, ''), 'AUTHENTICATE PLAIN');
        const parts = text.split('\0');
        // authzid\0user\0pass, or user\0pass as 3proxy also accepts.
        const [user, password] = parts.length === 3 ? [parts[1]!, parts[2]!] : parts.length === 2 ? [parts[0]!, parts[1]!] : ['', ''];
        if (user === '') throw proxyError('PRX_ERR_IMAP_BAD_LOGIN', 'AUTHENTICATE PLAIN', 'expected \\0user\\0password');
        return login(user, password, 'PLAIN', o);
      }
      if (cmd === 'AUTHENTICATE' && arg1.toUpperCase() === 'LOGIN') {
        const user = decode(arg2 !== '' ? arg2 : await continuation(io, 'VXNlcm5hbWU6'), 'AUTHENTICATE LOGIN');
        const password = decode(await continuation(io, 'UGFzc3dvcmQ6'), 'AUTHENTICATE LOGIN');
        return login(user, password, 'LOGIN', o);
      }
      io.write(`${tag} BAD need LOGIN first\r\n`);
    }
  },
  credentials(conn: ConnUser, l: ImapLogin) {
    return { user: conn.proxyUser, password: conn.proxyPassword ?? (l.password === '' ? null : l.password) };
  },
  async replay(io, _session, conn, l, state) {
    const greeting = await io.line();
    if (!/^\* OK/i.test(greeting)) throw proxyError('PRX_ERR_IMAP_BAD_GREETING', greeting.slice(0, 80));
    const caps = new Set<string>();
    const code = /\[CAPABILITY ([^\]]*)\]/i.exec(greeting);
    if (code !== null) authCaps(code[1]!, caps);
    else {
      io.write('zz CAPABILITY\r\n');
      for (;;) {
        const line = await io.line();
        if (/^\* CAPABILITY /i.test(line)) authCaps(line, caps);
        else if (line.startsWith('zz ')) {
          if (!/^zz OK/i.test(line)) throw proxyError('PRX_ERR_IMAP_CAPABILITY', line.slice(0, 80));
          break;
        }
      }
    }
    const tag = state.tag;
    const method = chooseMethod(l.method, caps);
    if (method === 'PLAIN') {
      const response = b64(`\0${conn.user}\0${l.password}`);
      // Without SASL-IR the initial response must wait for the server's "+" (RFC 3501).
      if (caps.has('SASL-IR')) io.write(`${tag} AUTHENTICATE PLAIN ${response}\r\n`);
      else {
        io.write(`${tag} AUTHENTICATE PLAIN\r\n`);
        await expectPlus(io, 'AUTHENTICATE PLAIN');
        io.write(`${response}\r\n`);
      }
    } else if (method === 'LOGIN') {
      io.write(`${tag} AUTHENTICATE LOGIN\r\n`);
      await expectPlus(io, 'AUTHENTICATE LOGIN');
      io.write(`${b64(conn.user)}\r\n`);
      await expectPlus(io, 'AUTHENTICATE LOGIN user');
      io.write(`${b64(l.password)}\r\n`);
    } else io.write(`${tag} LOGIN ${quote(conn.user)} ${quote(l.password)}\r\n`);
  },
  reply(err, state) {
    const tag = state.tag === '' ? '*' : state.tag;
    const kind = err.code === 'PRX_ERR_IMAP_BAD_COMMAND' || err.code === 'PRX_ERR_IMAP_BAD_LOGIN' ? 'BAD' : 'NO';
    return `${tag} ${kind} ${errorText(err)}\r\n`;
  },
};

protocolReaders.register('imap', mailReader(imapDialect));
