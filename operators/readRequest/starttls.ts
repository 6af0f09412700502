/**
 * The plaintext part of STARTTLS for tlspr's `starttls` mode (3proxy -Ximap/-Xpop3/-Xsmtp)
 * and for the mail gateways' hand-off to tlspr (3proxy without -x).
 *
 *   client side (tlspr only; a gateway has done it in its own dialog):
 *     greeting offering STARTTLS/STLS -> capability commands answered -> STARTTLS -> "go ahead"
 *   then the ClientHello is read and its SNI names the server, as in plain tlspr
 *   server side (both), once connected and before the ClientHello goes out:
 *     server greeting -> (SMTP: EHLO) -> STARTTLS/STLS -> server's "go ahead"
 *
 * The proxy never sees the TLS session: the server's certificate is what the client checks.
 * The 3proxy sources at hand have no server-side STARTTLS code to follow (the hand-off is only
 * visible in imapp.c: it answers "OK Begin TLS negotiation", defaults the port to 143 and
 * runs tlspr), so the server side here is the protocols' own minimal exchange.
 */
import { proxyError } from '../../core/errors';
import type { Session } from '../../core/session';
import { LineIo, withDeadline } from './line-io';

export type StartTlsProtocol = 'imap' | 'pop3' | 'smtp';

export const STARTTLS_PROTOCOLS: readonly StartTlsProtocol[] = ['imap', 'pop3', 'smtp'];

/** The server port when neither the login nor `tlsPort` names one (the gateways' defaults). */
export const STARTTLS_PORT: Readonly<Record<StartTlsProtocol, number>> = { imap: 143, pop3: 110, smtp: 25 };

/** How each protocol says "go ahead with TLS" to the client. */
export const STARTTLS_GO: Readonly<Record<StartTlsProtocol, (tag: string) => string>> = {
  imap: (tag) => `${tag} OK Begin TLS negotiation\r\n`,
  pop3: () => '+OK Begin TLS negotiation\r\n',
  smtp: () => '220 2.0.0 Ready to start TLS\r\n',
};

const MAX_LINE = 2048;
const MAX_TAG = 63;

/**
 * Speaks to the client until it asks for STARTTLS (true, "go ahead" written) or quits (false).
 * Other commands get the protocol's "STARTTLS first" refusal; a client that closes first is
 * PRX_ERR_TLS_NO_STARTTLS.
 */
export async function clientStartTls(io: LineIo, protocol: StartTlsProtocol): Promise<boolean> {
  const greet = { imap: '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Proxy Ready\r\n', pop3: '+OK Proxy\r\n', smtp: '220 Proxy ESMTP\r\n' };
  io.write(greet[protocol]);
  for (;;) {
    const line = await io.line();
    if (protocol === 'imap') {
      const sp = line.indexOf(' ');
      if (sp <= 0 || sp > MAX_TAG) {
        io.write('* BAD no tag\r\n');
        continue;
      }
      const tag = line.slice(0, sp);
      const cmd = (line.slice(sp + 1).split(' ')[0] ?? '').toUpperCase();
      if (cmd === 'STARTTLS') {
        io.write(STARTTLS_GO.imap(tag));
        return true;
      }
      if (cmd === 'LOGOUT') {
        io.write(`* BYE\r\n${tag} OK LOGOUT completed\r\n`);
        return false;
      }
      if (cmd === 'CAPABILITY') io.write(`* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n${tag} OK CAPABILITY completed\r\n`);
      else if (cmd === 'NOOP') io.write(`${tag} OK NOOP completed\r\n`);
      else io.write(`${tag} BAD need STARTTLS first\r\n`);
      continue;
    }
    const cmd = (line.split(' ')[0] ?? '').toUpperCase();
    if (protocol === 'pop3') {
      if (cmd === 'STLS') {
        io.write(STARTTLS_GO.pop3(''));
        return true;
      }
      if (cmd === 'QUIT') {
        io.write('+OK\r\n');
        return false;
      }
      io.write(cmd === 'CAPA' ? '+OK Capability list follows\r\nSTLS\r\n.\r\n' : '-ERR need STLS first\r\n');
      continue;
    }
    if (cmd === 'STARTTLS') {
      io.write(STARTTLS_GO.smtp(''));
      return true;
    }
    if (cmd === 'QUIT') {
      io.write('221 2.0.0 Proxy closing\r\n');
      return false;
    }
    if (cmd === 'EHLO') io.write('250-Proxy\r\n250 STARTTLS\r\n');
    else if (cmd === 'HELO') io.write('250 Proxy\r\n');
    else if (cmd === 'NOOP' || cmd === 'RSET') io.write('250 2.0.0 OK\r\n');
    else io.write('530 5.7.0 Must issue a STARTTLS command first\r\n');
  }
}

/** The client side of tlspr's starttls mode under the handshake deadline. */
export function clientStartTlsWithin(io: LineIo, protocol: StartTlsProtocol, ms: number): Promise<boolean> {
  return withDeadline(clientStartTls(io, protocol), ms, () => proxyError('PRX_ERR_TLS_NO_STARTTLS', 'handshake timeout'));
}

export function startTlsIo(session: Session): LineIo {
  return new LineIo(session.connection.socket, () => proxyError('PRX_ERR_TLS_NO_STARTTLS', 'client closed'), MAX_LINE);
}

/** A whole (multi-line) SMTP reply. */
async function smtpReply(io: LineIo): Promise<string> {
  for (;;) {
    const line = await io.line();
    if (line.length < 4 || line.charAt(3) !== '-') return line;
  }
}

function refused(step: string, line: string): never {
  throw proxyError('PRX_ERR_TLS_UPSTREAM_STARTTLS', `${step}: ${line.slice(0, 80)}`);
}

/** Upgrades the server side: greeting, STARTTLS/STLS, the server's "go ahead". */
export async function serverStartTls(session: Session, protocol: StartTlsProtocol, ms: number): Promise<void> {
  const target = session.target!;
  const io = new LineIo(target, () => proxyError('PRX_ERR_TLS_UPSTREAM_STARTTLS', 'server closed'), MAX_LINE);
  const run = async (): Promise<void> => {
    if (protocol === 'imap') {
      const greeting = await io.line();
      if (!/^\* OK/i.test(greeting)) refused('greeting', greeting);
      io.write('tls1 STARTTLS\r\n');
      for (;;) {
        const line = await io.line();
        if (line.startsWith('* ')) continue;
        if (!/^tls1 OK/i.test(line)) refused('STARTTLS', line);
        return;
      }
    }
    if (protocol === 'pop3') {
      const greeting = await io.line();
      if (!greeting.startsWith('+OK')) refused('greeting', greeting);
      io.write('STLS\r\n');
      const go = await io.line();
      if (!go.startsWith('+OK')) refused('STLS', go);
      return;
    }
    const greeting = await smtpReply(io);
    if (!greeting.startsWith('220')) refused('greeting', greeting);
    const local = (target.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    io.write(local.includes(':') ? `EHLO [IPv6:${local}]\r\n` : `EHLO [${local}]\r\n`);
    const ehlo = await smtpReply(io);
    if (!ehlo.startsWith('250')) refused('EHLO', ehlo);
    io.write('STARTTLS\r\n');
    const go = await smtpReply(io);
    if (!go.startsWith('220')) refused('STARTTLS', go);
  };
  try {
    await withDeadline(run(), ms, () => proxyError('PRX_ERR_TLS_UPSTREAM_STARTTLS', 'no answer in time'));
  } finally {
    io.release();
  }
}
