/**
 * `tls` (3proxy tlspr, and `auto` on a 0x16 first byte): reads the TLS ClientHello, takes the
 * target host from its SNI and the port from `options.tlsPort` (-P, default 443), then relays
 * the hello and everything after it unchanged (no TLS termination).
 *
 *   [starttls: plaintext dialog with the client up to STARTTLS]      (starttls.ts)
 *   bytes -> scanClientHello -> Session{host: SNI, port: tlsPort, text: "version sni alpn"}
 *   not a ClientHello -> PRX_ERR_TLS_NO_HELLO; no SNI -> PRX_ERR_TLS_NO_SNI (logged, closed)
 *   connected: [starttls: STARTTLS with the server] -> hello out -> [tlsCheck 2-4] -> relay
 *
 * `split` (-s): the hello goes to the target in two writes cut inside the SNI, so a DPI box
 * looking for the name in one segment does not see it whole. `tlsCheck` (-c) levels 2-4
 * watch the server's (and client's) handshake records before relaying (tls-check.ts).
 *
 * The mail gateways hand a connection here after answering the client's STARTTLS themselves
 * (`tlsHandoff`): the server side is upgraded the same way, the target named by the SNI.
 */
import { Observable } from 'rxjs';
import type { Socket } from 'node:net';
import { Session, NO_RESPONDER, emptyRequest, type Responder } from '../../core/session';
import { proxyError, toProxyError, type ProxyError } from '../../core/errors';
import { SocketReader } from '../../core/net/socket-reader';
import { protocolReaders, type ProtocolReader } from './protocols';
import { scanClientHello, type ClientHello } from './tls-hello';
import { checkTlsHandshake } from './tls-check';
import type { LineIo } from './line-io';
import { STARTTLS_PORT, clientStartTlsWithin, serverStartTls, startTlsIo, type StartTlsProtocol } from './starttls';

/** The type's `options:` (services/tlspr.yaml). */
export interface TlsOptions {
  readonly tlsPort?: number;
  readonly tlsCheck?: number;
  readonly split?: boolean;
  /** 3proxy -Ximap/-Xpop3/-Xsmtp. */
  readonly starttls?: StartTlsProtocol;
}

/** What `connected` does for one session, decided when the hello was read. */
interface TlsPlan {
  /** Offset inside the hello to cut it at (split), or 0. */
  readonly splitAt: number;
  readonly check: number;
  /** Protocol to upgrade the server side with before the hello goes out. */
  readonly serverStartTls: StartTlsProtocol | null;
  readonly handshakeMs: number;
}

const PLAN_KEY = 'tls.plan';

async function writeHello(target: Socket, head: Buffer, at: number): Promise<void> {
  if (at <= 0 || at >= head.length) {
    target.write(head);
    return;
  }
  target.setNoDelay(true);
  // Waiting for the first write to be flushed is what makes the second one a new segment.
  await new Promise<void>((resolve) => target.write(head.subarray(0, at), () => resolve()));
  target.write(head.subarray(at));
}

/**
 * Writes the hello itself (split, after a server STARTTLS, or before the checks); otherwise the
 * relay writes it with the rest. A failure here is logged and both sides closed.
 */
const tlsResponder: Responder = {
  fail(session, err) {
    return NO_RESPONDER.fail(session, err);
  },
  async connected(session) {
    const plan = session.state.get(PLAN_KEY) as TlsPlan | undefined;
    const target = session.target;
    const head = session.head;
    if (plan === undefined || target === null || head === null) return;
    if (plan.splitAt === 0 && plan.check < 2 && plan.serverStartTls === null) return;
    session.head = null;
    if (plan.serverStartTls !== null) await serverStartTls(session, plan.serverStartTls, plan.handshakeMs);
    await writeHello(target, head, plan.splitAt);
    session.bytesOut += head.length;
    if (plan.check >= 2) await withTimeout(checkTlsHandshake(session, plan.check), plan.handshakeMs, target);
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

/** How a hello becomes a session: the port, the checks, and what else `connected` must do. */
export interface TlsSettings {
  readonly port: number;
  readonly check: number;
  readonly split: boolean;
  readonly serverStartTls: StartTlsProtocol | null;
  /** A gateway's -h: the server when the hello names none. */
  readonly defaultHost: { readonly host: string; readonly port: number } | null;
  readonly handshakeMs: number;
}

/** Reads the ClientHello on `first`'s socket and builds the CONNECT session to its SNI host. */
export async function helloSession(first: Session, o: TlsSettings): Promise<Session> {
  let got: { hello: ClientHello; bytes: Buffer };
  try {
    got = await withTimeout(readHello(first.connection.socket), o.handshakeMs, first.connection.socket);
  } catch (err) {
    return failed(first, toProxyError(err));
  }
  const { hello, bytes } = got;
  const named = hello.sni !== null && hello.sni !== '';
  const host = named ? hello.sni : (o.defaultHost?.host ?? null);
  if (host === null) return failed(first, proxyError('PRX_ERR_TLS_NO_SNI'), helloText(hello));
  const port = named ? o.port : o.defaultHost!.port;
  const s = new Session(
    first.connection,
    first.service,
    { protocol: 'tls', operation: 'CONNECT', host, port, address: null, text: helloText(hello), method: '', url: '' },
    tlsResponder,
  );
  s.head = bytes;
  // Cut in the middle of the name: neither segment carries it whole.
  const splitAt = o.split && hello.sni !== null ? hello.sniOffset + Math.max(1, Math.floor(hello.sni.length / 2)) : 0;
  s.state.set(PLAN_KEY, { splitAt, check: o.check, serverStartTls: o.serverStartTls, handshakeMs: o.handshakeMs } satisfies TlsPlan);
  return s;
}

/**
 * A mail gateway's STARTTLS hand-off (3proxy returns tlsprchild from the gateway): the client
 * was told to go ahead; the rest is tlspr with the server side upgraded in `protocol`. The port
 * is the gateway's tlsPort (-P) or the protocol's, as 3proxy defaults srv->targetport.
 */
export function tlsHandoff(
  first: Session,
  protocol: StartTlsProtocol,
  o: { readonly defaultHost: { host: string; port: number } | null; readonly tlsPort: number | null; readonly handshakeMs: number },
): Promise<Session> {
  return helloSession(first, {
    port: o.tlsPort ?? STARTTLS_PORT[protocol],
    check: 1,
    split: false,
    serverStartTls: protocol,
    defaultHost: o.defaultHost,
    handshakeMs: o.handshakeMs,
  });
}

export const tlsReader: ProtocolReader = {
  name: 'tls',
  create(options, _env, ctx) {
    const opts = (ctx.service.config['options'] ?? {}) as TlsOptions;
    // `auto` hands TLS here without tlspr's options: plain SNI relaying.
    const starttls = ctx.service.type === 'tlspr' ? (opts.starttls ?? null) : null;
    const settings: TlsSettings = {
      port: opts.tlsPort ?? (starttls !== null ? STARTTLS_PORT[starttls] : 443),
      check: opts.tlsCheck ?? 1,
      split: opts.split === true,
      serverStartTls: starttls,
      defaultHost: null,
      handshakeMs: options.handshakeTimeoutMs,
    };
    const toSession = async (first: Session): Promise<Session | null> => {
      if (starttls !== null) {
        const io: LineIo = startTlsIo(first);
        try {
          if (!(await clientStartTlsWithin(io, starttls, settings.handshakeMs))) {
            first.connection.socket.end();
            return null;
          }
        } catch (err) {
          return failed(first, toProxyError(err));
        } finally {
          io.release();
        }
      }
      return helloSession(first, settings);
    };
    return (first) =>
      new Observable<Session>((sub) => {
        toSession(first).then(
          (s) => {
            if (s !== null) sub.next(s);
            sub.complete();
          },
          (err: unknown) => sub.error(err),
        );
      });
  },
};

protocolReaders.register('tls', tlsReader);
