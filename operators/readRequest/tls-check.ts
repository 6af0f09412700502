/**
 * tlspr's check levels 2-4 (3proxy -c), run once the ClientHello went to the server. The
 * proxy still never terminates TLS: it reads whole records, looks at the handshake messages
 * in them and forwards every record unchanged before it decides anything else.
 *
 *   2  the server's first record is a handshake starting with a ServerHello
 *   3  and, before ServerHelloDone (or the first non-handshake record), a Certificate longer
 *      than 64 bytes; TLS 1.3 hides certificates, so it fails there (3proxy's 370)
 *   4  and the server sent a CertificateRequest, and the client's flight holds a Certificate
 *      longer than 64 bytes (an empty one is 3 bytes)
 *
 * 3proxy looks at the first message of each record; this parser walks every message of the
 * handshake stream, so servers that pack ServerHello..ServerHelloDone in one record pass too.
 */
import type { Socket } from 'node:net';
import { proxyError } from '../../core/errors';
import { SocketReader } from '../../core/net/socket-reader';
import type { Session } from '../../core/session';
import { HANDSHAKE, RECORD, handshakeMessages, serverHelloVersion, type HandshakeMessage } from './tls-hello';

/** 3proxy's threshold: a Certificate message body of at most 64 bytes holds no real certificate. */
const MIN_CERT = 64;

/** Reads TLS records off one side and forwards each to the other, counting the bytes. */
class RecordPump {
  private readonly reader: SocketReader;
  private stream: Buffer = Buffer.alloc(0);
  private last: Buffer | null = null;

  constructor(
    from: Socket,
    private readonly to: Socket,
    private readonly count: (n: number) => void,
    closed: string,
  ) {
    this.reader = new SocketReader(from, () => proxyError('PRX_ERR_TLS_CHECK', closed));
  }

  /**
   * The next record (forwarded unless `hold`: the first server record is only forwarded once it
   * passed); the handshake messages it completes, or null for another record type.
   */
  async next(hold = false): Promise<HandshakeMessage[] | null> {
    const header = await this.reader.read(5);
    if (header[1] !== 3) throw proxyError('PRX_ERR_TLS_CHECK', 'not a TLS record');
    const body = await this.reader.read(header.readUInt16BE(3));
    this.last = Buffer.concat([header, body]);
    if (!hold) this.forward();
    if (header[0] !== RECORD.HANDSHAKE) return null;
    const { messages, rest } = handshakeMessages(Buffer.concat([this.stream, body]));
    this.stream = rest;
    return messages;
  }

  /** Sends the last record read on to the other side. */
  forward(): void {
    if (this.last === null) return;
    this.to.write(this.last);
    this.count(this.last.length);
    this.last = null;
  }

  release(): void {
    this.reader.release();
  }
}

/** Runs the checks of `level` (2-4) between `session`'s client and target. */
export async function checkTlsHandshake(session: Session, level: number): Promise<void> {
  const client = session.connection.socket;
  const target = session.target!;
  const fromServer = new RecordPump(target, client, (n) => (session.bytesIn += n), 'server closed during the handshake');
  // Only level 4 reads the client's flight: until then its bytes stay in the socket for the relay.
  let fromClient: RecordPump | null = null;
  try {
    const first = await fromServer.next(true);
    if (first === null || first.length === 0 || first[0]!.type !== HANDSHAKE.SERVER_HELLO) throw proxyError('PRX_ERR_TLS_CHECK', 'the server did not answer with a ServerHello');
    const version = serverHelloVersion(first[0]!.body);
    if (version === null) throw proxyError('PRX_ERR_TLS_CHECK', 'malformed ServerHello');
    fromServer.forward();
    if (level < 3) return;
    if (version === 'TLSv1.3') throw proxyError('PRX_ERR_TLS_CHECK', 'TLS 1.3 encrypts the certificates; levels 3 and 4 need TLS 1.2 or older');
    let serverCert = false;
    let certRequest = false;
    let messages: HandshakeMessage[] | null = first.slice(1);
    for (let done = false; !done; ) {
      for (const m of messages) {
        if (m.type === HANDSHAKE.CERTIFICATE && m.length > MIN_CERT) serverCert = true;
        else if (m.type === HANDSHAKE.CERTIFICATE_REQUEST) certRequest = true;
        else if (m.type === HANDSHAKE.SERVER_HELLO_DONE) done = true;
      }
      if (done) break;
      messages = await fromServer.next();
      if (messages === null) break;
    }
    if (!serverCert) throw proxyError('PRX_ERR_TLS_CHECK', 'the server sent no certificate');
    if (level < 4) return;
    if (!certRequest) throw proxyError('PRX_ERR_TLS_CHECK', 'the server did not ask for a client certificate');
    fromClient = new RecordPump(client, target, (n) => (session.bytesOut += n), 'client closed during the handshake');
    let clientCert = false;
    for (let m = await fromClient.next(); m !== null; m = await fromClient.next()) {
      if (m.some((x) => x.type === HANDSHAKE.CERTIFICATE && x.length > MIN_CERT)) clientCert = true;
    }
    if (!clientCert) throw proxyError('PRX_ERR_TLS_CLIENT_CERT');
  } finally {
    fromServer.release();
    fromClient?.release();
  }
}
