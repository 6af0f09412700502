/**
 * SOCKS replies: the responder the socks reader hands to the pipeline, and the reply encoders
 * BIND and UDP ASSOCIATE use for their own replies.
 *
 *   SOCKS5: 05 REP 00 ATYP BND.ADDR BND.PORT   (REP = err.socksReply, 3proxy §9.3)
 *   SOCKS4: 00 5A|5B PORT IPv4                  (91 for every failure, 997 included)
 */
import { isIP } from 'node:net';
import type { Responder, Session } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import { encodeAddress } from './socks-parse';

/** How far the exchange went: replies are only sent once a request could be answered. */
export type ReplyStage = 'greeting' | 'request';

/** A SOCKS5 reply carrying `address:port` (natAddress replaces the address when set). */
export function socks5Reply(rep: number, address: string, port: number): Buffer {
  const a = address === '' ? '0.0.0.0' : address;
  // IPv4 (nearly every reply): one 10-byte buffer, no regex, split or concat per connection.
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (isIP(v4) === 4) {
    const out = Buffer.allocUnsafe(10);
    out[0] = 5;
    out[1] = rep;
    out[2] = 0;
    out[3] = 1;
    let at = 4;
    let n = 0;
    for (let i = 0; i < v4.length; i++) {
      const c = v4.charCodeAt(i);
      if (c === 46) {
        out[at++] = n;
        n = 0;
      } else n = n * 10 + (c - 48);
    }
    out[at] = n;
    out.writeUInt16BE(port & 0xffff, 8);
    return out;
  }
  return Buffer.concat([Buffer.from([5, rep, 0]), encodeAddress(a, port)]);
}

/** A SOCKS4 reply; IPv6 addresses cannot be carried and become 0.0.0.0. */
export function socks4Reply(code: number, address: string, port: number): Buffer {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const ip = isIP(v4) === 4 ? v4.split('.').map(Number) : [0, 0, 0, 0];
  return Buffer.from([0, code, (port >> 8) & 0xff, port & 0xff, ...ip]);
}

/** Writes a reply unless the client is gone. */
export function sendReply(session: Session, reply: Buffer): void {
  const socket = session.connection.socket;
  if (!socket.destroyed && !socket.writableEnded) socket.write(reply);
}

/**
 * The responder for one SOCKS exchange. `fail` answers with the mapped code (only when the
 * request stage was reached: a broken greeting just closes) and ends the client's side;
 * `connected` sends the success reply with the target socket's local address.
 */
export function socksResponder(version: 0 | 4 | 5, stage: ReplyStage, natAddress: string | null): Responder {
  return {
    fail(session: Session, err: ProxyError) {
      const socket = session.connection.socket;
      if (version === 0 || stage === 'greeting' || socket.destroyed) {
        socket.destroy();
        return;
      }
      const reply = version === 5 ? socks5Reply(err.socksReply, '0.0.0.0', 0) : socks4Reply(91, '0.0.0.0', 0);
      if (!socket.writableEnded) socket.end(reply);
    },
    connected(session: Session) {
      const t = session.target;
      const local = natAddress ?? t?.localAddress ?? '0.0.0.0';
      const port = t?.localPort ?? 0;
      if (version === 4) {
        // 3proxy: a SOCKS4 request that ends on an IPv6 target is refused with 997 (reply 91).
        if (t !== null && t.remoteFamily === 'IPv6' && !(t.remoteAddress ?? '').startsWith('::ffff:')) {
          throw proxyError('PRX_ERR_ADDRESS_FAMILY', t.remoteAddress ?? 'IPv6');
        }
        sendReply(session, socks4Reply(90, local, port));
        return;
      }
      sendReply(session, socks5Reply(0, local, port));
    },
  };
}
