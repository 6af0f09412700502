/**
 * `pop3` (3proxy pop3p): the proxy greets with `+OK Proxy`, answers CAPA itself and waits for
 * `USER [proxyuser:proxypass:]user@host[:port]`. After connecting it checks the server's
 * `+OK` greeting, sends `USER user` and relays: the server's answer to USER, PASS and the rest
 * of the session pass through unchanged (cleartext USER/PASS only, as in 3proxy: no APOP).
 *
 * Unless `noStarttls` (-x), CAPA lists STLS and STLS is answered `+OK Begin TLS negotiation`,
 * then the connection goes to tlspr's logic (mail.ts): the server is the ClientHello's SNI
 * (port 110, or -h), upgraded with its own STLS. With -x, STLS is refused like any command.
 */
import { proxyError } from '../../core/errors';
import { protocolReaders } from './protocols';
import { mailReader, parseConnUser, errorText, type MailDialect } from './mail';
import { STARTTLS_GO } from './starttls';

const GREETING = '+OK Proxy\r\n';

export const pop3Dialect: MailDialect<null> = {
  protocol: 'pop3',
  defaultPort: 110,
  // 3proxy reads lines into a 320-byte buffer.
  maxLine: 320,
  clientClosed: 'PRX_ERR_POP3_NO_USER',
  serverClosed: 'PRX_ERR_POP3_NO_GREETING',
  async dialog(io, _state, o) {
    io.write(GREETING);
    for (;;) {
      const line = await io.line();
      const [word = '', ...rest] = line.split(' ');
      const cmd = word.toUpperCase();
      if (cmd === 'USER') {
        const conn = parseConnUser(rest.join(' ').trim(), 110, o);
        if (conn === null) throw proxyError('PRX_ERR_POP3_NO_HOST');
        return { kind: 'login', conn, login: null };
      }
      if (cmd === 'QUIT') {
        io.write('+OK\r\n');
        return { kind: 'quit' };
      }
      if (cmd === 'STLS' && o.starttls) {
        io.write(STARTTLS_GO.pop3(''));
        return { kind: 'starttls' };
      }
      // RFC 2449: a client that sees USER here goes on with USER/PASS.
      if (cmd === 'CAPA') io.write(`+OK Capability list follows\r\nUSER\r\n${o.starttls ? 'STLS\r\n' : ''}.\r\n`);
      else io.write('-ERR need USER first\r\n');
    }
  },
  async replay(io, _session, conn) {
    const greeting = await io.line();
    // "+OK Proxy" is another 3proxy-like gateway: refusing it stops loops (3proxy's 622 check).
    if (!/^\+OK/i.test(greeting) || /^proxy/i.test(greeting.slice(4))) throw proxyError('PRX_ERR_POP3_BAD_GREETING', greeting.slice(0, 80));
    io.write(`USER ${conn.user}\r\n`);
  },
  reply(err) {
    return `-ERR ${errorText(err)}\r\n`;
  },
};

protocolReaders.register('pop3', mailReader(pop3Dialect));
