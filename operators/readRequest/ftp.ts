/**
 * `ftp` (3proxy ftppr): the proxy greets with `220 Ready` and waits for
 * `USER [proxyuser:proxypass:]user@host[:port]` (or `OPEN host[:port]` then `USER user`, for
 * clients that know about proxies), answers `331` and takes the PASS. After connecting it logs
 * in to the server with the real user name and password (3proxy's ftplogin) and relays the
 * server's answer to the login; mapSockets' 'ftp' relay runs the rest of the session.
 *
 * Unlike 3proxy, which connects on USER, the server is dialed once PASS is in: the session goes
 * through authenticate/authorize/connect as one request, and the client still gets every
 * refusal as an FTP reply (530 for login and access refusals, 421 when the server cannot be
 * used, since the connection closes after it).
 */
import { proxyError, type ProxyError } from '../../core/errors';
import { ftpLogin, replyMessage, replyText } from '../../core/net/ftp';
import { protocolReaders } from './protocols';
import { mailReader, parseConnUser, parseHostPort, errorText, type ConnUser, type MailDialect } from './mail';
import { FTP_CONTEXT_KEY, ftpContext } from '../mapSockets/ftp-context';

interface FtpLogin {
  readonly password: string;
}

/** Replies that refuse the login itself; everything else closes the service (421). */
const LOGIN_REFUSALS = new Set(['PRX_ERR_FTP_NO_HOST', 'PRX_ERR_FTP_LOGIN']);

export function ftpReplyCode(err: ProxyError): number {
  return err.legacyCode <= 10 || LOGIN_REFUSALS.has(err.code) ? 530 : 421;
}

export const ftpDialect: MailDialect<FtpLogin> = {
  protocol: 'ftp',
  defaultPort: 21,
  maxLine: 2048,
  clientClosed: 'PRX_ERR_FTP_NO_LOGIN',
  serverClosed: 'PRX_ERR_FTP_UPSTREAM',
  upstreamError: 'PRX_ERR_FTP_UPSTREAM',
  async dialog(io, _state, o) {
    io.write('220 Ready\r\n');
    let conn: ConnUser | null = null;
    let opened: string | null = null;
    for (;;) {
      const line = await io.line();
      const sp = line.indexOf(' ');
      const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const arg = sp < 0 ? '' : line.slice(sp + 1).trim();
      if (cmd === 'USER') {
        conn = parseConnUser(arg, 21, opened === null ? o : { ...o, defaultHost: opened });
        if (conn === null) throw proxyError('PRX_ERR_FTP_NO_HOST');
        io.write('331 ok\r\n');
      } else if (cmd === 'PASS') {
        if (conn !== null) return { kind: 'login', conn, login: { password: arg } };
        io.write('503 Login with USER first\r\n');
      } else if (cmd === 'OPEN') {
        if (parseHostPort(arg, 21) === null) io.write('501 Usage: OPEN host[:port]\r\n');
        else {
          opened = arg;
          io.write('220 Ready\r\n');
        }
      } else if (cmd === 'QUIT') {
        io.write('221 Bye\r\n');
        return { kind: 'quit' };
      } else if (cmd === 'NOOP') io.write('200 ok\r\n');
      else if (cmd === 'AUTH') io.write('534 TLS is not available through this gateway\r\n');
      else io.write('530 Log in with USER user@host[:port] and PASS first\r\n');
    }
  },
  async replay(io, session, conn, login) {
    const r = await ftpLogin(io, conn.user, login.password);
    if (!r.ok) throw proxyError('PRX_ERR_FTP_LOGIN', replyMessage(r.reply));
    // The server's own welcome answers the client's PASS.
    session.connection.socket.write(replyText(r.reply), 'latin1');
  },
  reply(err) {
    return `${ftpReplyCode(err)} ${errorText(err)}\r\n`;
  },
  setup(options, env, ctx) {
    const context = ftpContext(env, ctx, options.handshakeTimeoutMs);
    return (session) => {
      session.relayMode = 'ftp';
      session.state.set(FTP_CONTEXT_KEY, context);
    };
  },
};

protocolReaders.register('ftp', mailReader(ftpDialect));
