/**
 * Opening outgoing TCP connections: timeout, source address (-e), abort on session end, and
 * errno -> ProxyError mapping. Parent chains build on this (connect/parents issue).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { proxyError, proxyErrorFrom, type ProxyError } from '../errors';

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  /** Source address to bind (3proxy -e / external). */
  readonly localAddress?: string | undefined;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** TCP_NODELAY on the new socket (request/response traffic wants it; see bench notes). */
  readonly noDelay?: boolean;
  /**
   * Called with the socket as soon as it exists, before it connects. The connect step hands it to
   * the session so that closing the session cancels a pending connect by destroying the socket:
   * cheaper than an AbortSignal listener per connection (EventTarget showed in the profile).
   */
  readonly onSocket?: (socket: Socket) => void;
}

export interface Dialer {
  dial(opts: DialOptions): Promise<Socket>;
}

/** Maps a socket error to our codes (3proxy: connect failures are 13, bind failures 12). */
const plainAddress = (a: string): string => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

/**
 * True when address:port is the very socket the client connected to: dialing it would feed the
 * proxy its own connection, over and over until maxconn (a name or a transparent Host header
 * that resolves to the proxy itself; 3proxy answers such requests with 519).
 */
export function isOwnListener(connection: { readonly localAddress: string; readonly localPort: number }, address: string, port: number): boolean {
  return port === connection.localPort && plainAddress(address) === plainAddress(connection.localAddress);
}

export function mapConnectError(err: unknown, target: string): ProxyError {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return proxyErrorFrom('PRX_ERR_CONNECT_REFUSED', err, target);
    case 'ETIMEDOUT':
      return proxyErrorFrom('PRX_ERR_CONNECT_TIMEOUT', err, target);
    case 'ENETUNREACH':
      return proxyErrorFrom('PRX_ERR_CONNECT_UNREACHABLE', err, target, code);
    case 'EHOSTUNREACH':
      return proxyErrorFrom('PRX_ERR_CONNECT_HOST_UNREACHABLE', err, target);
    case 'EADDRNOTAVAIL':
    case 'EADDRINUSE':
      return proxyErrorFrom('PRX_ERR_CONNECT_BIND', err, target, code);
    default:
      return proxyErrorFrom('PRX_ERR_CONNECT_FAILED', err, target, code ?? String(err));
  }
}

export class DirectDialer implements Dialer {
  dial(opts: DialOptions): Promise<Socket> {
    const target = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
    return new Promise<Socket>((resolve, reject) => {
      if (opts.signal?.aborted === true) {
        reject(proxyError('PRX_ERR_SESSION_KILLED', 'aborted before connect'));
        return;
      }
      const socket = netConnect({
        host: opts.host,
        port: opts.port,
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        noDelay: opts.noDelay ?? true,
        // Half-close is relayed (3proxy default): a FIN from the target must not end our write side.
        allowHalfOpen: true,
      });
      opts.onSocket?.(socket);
      const timer = setTimeout(() => fail(proxyError('PRX_ERR_CONNECT_TIMEOUT', target)), opts.timeoutMs);
      const onAbort = (): void => fail(proxyError('PRX_ERR_SESSION_KILLED', 'aborted during connect'));
      const cleanup = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        socket.removeListener('close', onClose);
      };
      function fail(err: ProxyError): void {
        cleanup();
        socket.destroy();
        reject(err);
      }
      function onError(err: Error): void {
        fail(mapConnectError(err, target));
      }
      function onConnect(): void {
        cleanup();
        resolve(socket);
      }
      // Destroyed before connecting (the session was closed): settle instead of hanging.
      function onClose(): void {
        fail(proxyError('PRX_ERR_SESSION_KILLED', 'closed during connect'));
      }
      // on(), not once(): cleanup() removes all three, and once() wraps each in a new closure.
      socket.on('error', onError);
      socket.on('connect', onConnect);
      socket.on('close', onClose);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
