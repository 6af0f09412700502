/**
 * `tls` (3proxy tlspr, and `auto` on a 0x16 first byte): reads the TLS ClientHello, takes the
 * target host from its SNI and the port from `options.tlsPort` (-P, default 443), then relays
 * the hello and everything after it unchanged (no TLS termination).
 *
 *   bytes -> scanClientHello -> Session{host: SNI, port: tlsPort, text: "version sni alpn"}
 *   not a ClientHello -> PRX_ERR_TLS_NO_HELLO; no SNI -> PRX_ERR_TLS_NO_SNI (logged, closed)
 *
 * `split` (-s): the hello goes to the target in two writes cut inside the SNI, so a DPI box
 * looking for the name in one segment does not see it whole.
 */
import { Observable } from 'rxjs';
import type { Socket } from 'node:net';
import { Session, NO_RESPONDER, emptyRequest, type Responder } from '../../core/session';
import { proxyError, toProxyError, type ProxyError } from '../../core/errors';
import { SocketReader } from '../../core/net/socket-reader';
import { protocolReaders, type ProtocolReader } from './protocols';
import { scanClientHello, type ClientHello } from './tls-hello';

/** The type's `options:` (services/tlspr.yaml). */
export interface TlsOptions {
  readonly tlsPort?: number;
  readonly tlsCheck?: number;
  readonly split?: boolean;
}

const SPLIT_KEY = 'tls.splitAt';

/** Writes the hello in two segments when `split` asked for it; the relay writes the rest. */
const tlsResponder: Responder = {
  fail(session, err) {
    return NO_RESPONDER.fail(session, err);
  },
  async connected(session) {
    const at = session.state.get(SPLIT_KEY);
    const target = session.target;
    const head = session.head;
    if (typeof at !== 'number' || target === null || head === null || at <= 0 || at >= head.length) return;
    session.head = null;
    target.setNoDelay(true);
    // Waiting for the first write to be flushed is what makes the second one a new segment.
    await new Promise<void>((resolve) => target.write(head.subarray(0, at), () => resolve()));
    target.write(head.subarray(at));
  },
};

/** Reads one whole ClientHello record (or decides the bytes are not one). */
async function readHello(socket: Socket): Promise<{ hello: ClientHello; bytes: Buffer }> {
  const reader = new SocketReader(socket, () => proxyError('PRX_ERR_TLS_NO_HELLO'));
  try {
    const header = await reader.read(5);
    const first = scanClientHello(header);
    if (first.kind === 'not-tls') throw proxyError('PRX_ERR_TLS_NO_HELLO');
    const rest = first.kind === 'need' ? await reader.read(first.bytes - 5) : Buffer.alloc(0);
    const bytes = Buffer.concat([header, rest]);
    const scan = scanClientHello(bytes);
    if (scan.kind !== 'hello') throw proxyError('PRX_ERR_TLS_NO_HELLO');
    return { hello: scan.hello, bytes };
  } finally {
    reader.release();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, socket: Socket): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(proxyError('PRX_ERR_REQUEST_TIMEOUT'));
      socket.destroy();
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** `%T` for tlspr: TLS version, SNI and ALPN (3proxy logs the three). */
export function helloText(h: ClientHello): string {
  return [h.version, h.sni ?? '-', h.alpn.length > 0 ? h.alpn.join(',') : '-'].join(' ');
}

function failed(first: Session, err: ProxyError, text = ''): Session {
  const s = new Session(first.connection, first.service, { ...emptyRequest('tls'), text }, tlsResponder);
  s.error = err;
  return s;
}

export const tlsReader: ProtocolReader = {
  name: 'tls',
  create(options, _env, ctx) {
    const opts = (ctx.service.config['options'] ?? {}) as TlsOptions;
    const port = opts.tlsPort ?? 443;
    const split = opts.split === true;
    const toSession = async (first: Session): Promise<Session> => {
      let got: { hello: ClientHello; bytes: Buffer };
      try {
        got = await withTimeout(readHello(first.connection.socket), options.handshakeTimeoutMs, first.connection.socket);
      } catch (err) {
        return failed(first, toProxyError(err));
      }
      const { hello, bytes } = got;
      if (hello.sni === null || hello.sni === '') return failed(first, proxyError('PRX_ERR_TLS_NO_SNI'), helloText(hello));
      const s = new Session(
        first.connection,
        first.service,
        { protocol: 'tls', operation: 'CONNECT', host: hello.sni, port, address: null, text: helloText(hello), method: '', url: '' },
        tlsResponder,
      );
      s.head = bytes;
      // Cut in the middle of the name: neither segment carries it whole.
      if (split) s.state.set(SPLIT_KEY, hello.sniOffset + Math.max(1, Math.floor(hello.sni.length / 2)));
      return s;
    };
    return (first) =>
      new Observable<Session>((sub) => {
        toSession(first).then(
          (s) => {
            sub.next(s);
            sub.complete();
          },
          (err: unknown) => sub.error(err),
        );
      });
  },
};

protocolReaders.register('tls', tlsReader);
