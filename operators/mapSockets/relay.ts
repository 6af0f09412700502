/**
 * The fast path: client <-> target through `pipe()` both ways, kernel buffers and Node's own
 * backpressure, no per-chunk JavaScript of ours. Byte counts come from the target socket's
 * bytesRead/bytesWritten when the relay ends (no counting per chunk).
 *
 * Half-close (3proxy default, -C1): a FIN from one side is passed on as a FIN to the other and
 * the other direction keeps flowing. With halfClose off (-C): the first side to finish ends the
 * session once the other direction's queued bytes are flushed.
 *
 * Idle timeout: every byte of the session passes through the client socket (read or write),
 * so the client socket's inactivity timer is the session's idle timer.
 */
import { Observable } from 'rxjs';
import type { Socket } from 'node:net';
import type { Session } from '../../core/session';
import { proxyError, proxyErrorFrom, type ProxyError } from '../../core/errors';

export interface RelayOptions {
  readonly idleMs: number;
  readonly halfClose: boolean;
  /** Largest HTTP body buffered for data filters (root filterMaxSize, default 1MB); 0 in tests = never buffer. */
  readonly filterMaxSize?: number;
}

export function streamRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) =>
    relayStream(session, opts, (err) => {
      if (err === null) {
        sub.next(session);
        sub.complete();
      } else sub.error(err);
    }),
  );
}

/**
 * The relay in callback form (what the pipeline's callback runner uses): `done` is called once,
 * with null when both sides are finished; the returned function stops the relay early (the
 * target is destroyed, `done` is not called).
 */
export function relayStream(session: Session, opts: RelayOptions, done: (err: ProxyError | null) => void): () => void {
  const client = session.connection.socket;
  const target = session.target;
  if (target === null) {
    done(proxyError('PRX_ERR_RELAY_FAILED', 'no target socket'));
    return noop;
  }
  const startOut = target.bytesWritten;
  const startIn = target.bytesRead;
  let finished = false;
  let clientClosed = false;
  let targetClosed = false;

  const settle = (err: ProxyError | null): void => {
    if (finished) return;
    finished = true;
    session.bytesOut += target.bytesWritten - startOut;
    session.bytesIn += target.bytesRead - startIn;
    // Both sockets closed: the pipes go with them (unpiping closed sockets was a visible share of
    // a short connection's cost), but our listeners are removed all the same. A closed socket
    // object lives until V8's next full GC, and listeners left on it keep this relay's closures
    // and the session alive through every scavenge until then (see Session.close).
    if (clientClosed && targetClosed) removeListeners();
    else cleanup();
    done(err);
  };
  const onClientError = (e: Error): void => {
    target.destroy();
    settle(resetError('PRX_ERR_CLIENT_RESET', e));
  };
  const onTargetError = (e: Error): void => {
    client.destroy();
    settle(resetError('PRX_ERR_SERVER_RESET', e));
  };
  const onTimeout = (): void => {
    target.destroy();
    client.destroy();
    settle(proxyError('PRX_ERR_IDLE_TIMEOUT', opts.idleMs));
  };
  const onClientClose = (): void => {
    clientClosed = true;
    if (!opts.halfClose || !target.writableEnded) target.end();
    if (targetClosed) settle(null);
    else if (!opts.halfClose) graceful(target);
  };
  const onTargetClose = (): void => {
    targetClosed = true;
    if (clientClosed) settle(null);
    else if (!opts.halfClose) graceful(client);
  };
  const onClientEnd = (): void => {
    if (!opts.halfClose) client.end();
  };
  const onTargetEnd = (): void => {
    if (!opts.halfClose) target.end();
  };
  function removeListeners(): void {
    client.removeListener('error', onClientError);
    target!.removeListener('error', onTargetError);
    client.removeListener('timeout', onTimeout);
    client.removeListener('close', onClientClose);
    target!.removeListener('close', onTargetClose);
    client.removeListener('end', onClientEnd);
    target!.removeListener('end', onTargetEnd);
  }
  function cleanup(): void {
    client.unpipe(target!);
    target!.unpipe(client);
    client.setTimeout(0);
    removeListeners();
  }

  client.on('error', onClientError);
  target.on('error', onTargetError);
  client.on('close', onClientClose);
  target.on('close', onTargetClose);
  client.on('end', onClientEnd);
  target.on('end', onTargetEnd);
  if (opts.idleMs > 0) {
    client.setTimeout(opts.idleMs);
    client.on('timeout', onTimeout);
  }
  if (session.head !== null && session.head.length > 0) {
    target.write(session.head);
    session.head = null;
  }
  client.pipe(target);
  target.pipe(client);
  if (client.destroyed) onClientClose();
  if (target.destroyed) onTargetClose();
  return () => {
    if (!finished) {
      finished = true;
      session.bytesOut += target.bytesWritten - startOut;
      session.bytesIn += target.bytesRead - startIn;
      cleanup();
      target.destroy();
    }
  };
}

function noop(): void {}

/** After one side is gone (-C mode), close the other once its queued bytes are written. */
export function graceful(socket: Socket): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end();
  const t = setTimeout(() => socket.destroy(), 2000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

/** A socket error during the relay as our code (client or server reset), with the errno. */
export function resetError(code: 'PRX_ERR_CLIENT_RESET' | 'PRX_ERR_SERVER_RESET', e: Error): ProxyError {
  return proxyErrorFrom(code, e, (e as NodeJS.ErrnoException).code ?? e.message);
}
