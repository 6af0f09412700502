/**
 * The throttled relay: for sessions with bandwidth buckets or a quota (session.limits).
 * Everything else stays on relay.ts's pipe() fast path.
 *
 * No Transform and no queue of ours: each direction is a `Pump` that writes every chunk as it
 * arrives, then pauses its source while the destination is full (write() returned false, until
 * 'drain') or while a bucket is in debt (parked in the bucket's FIFO queue until its turn). At
 * most one socket read buffer plus one chunk is in flight per direction, whatever the rate.
 *
 * Quota: a chunk that would cross the remaining headroom is cut to it, the allowed bytes are
 * flushed to the receiver followed by a FIN, the sender is destroyed, and the session fails
 * with PRX_ERR_QUOTA_EXCEEDED (3proxy 10). Bytes are added to the counters as they pass, so
 * concurrent sessions on one counter see each other's traffic.
 */
import { Observable } from 'rxjs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Session } from '../../core/session';
import type { SessionLimits } from '../../core/limits';
import { TokenBucket, type BucketWaiter } from '../../core/limits/token-bucket';
import { ProxyError, proxyError } from '../../core/errors';
import { inspectorFor } from '../filters/data';
import { graceful, resetError, type RelayOptions } from './relay';

/** Something that paces a direction: a TokenBucket, or a plugin's bandwidth hook. */
export interface Pacer {
  /** Bytes just carried -> how long (ms) to wait before reading more. */
  take(bytes: number): number;
}

/** A data-filter stage on one direction (operators/filters/data.ts): each chunk passes it first. */
export interface ChunkInspector {
  /** The chunk to forward (maybe rewritten), or the error that ends the session. */
  run(chunk: Buffer): Buffer | ProxyError;
  fail(err: ProxyError): void;
}

/**
 * One direction: src -> dst, paced by buckets, bounded by the quota. Streams, not just sockets:
 * the HTTP relay pumps message bodies (IncomingMessage -> ServerResponse / ClientRequest).
 */
export class Pump implements BucketWaiter {
  bytes = 0;
  /** Last chunk's size: what the bucket expects this pump to take when it wakes it. */
  expect = 16 * 1024;
  private drainWait = false;
  /** The bucket this pump is parked on (in debt), or null. */
  private parked: TokenBucket | null = null;
  /** A plugin's bandwidth hook asked for a pause (it has no queue to park in). */
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly src: Readable,
    private readonly dst: Writable,
    private readonly dir: 'in' | 'out',
    private readonly buckets: readonly Pacer[],
    private readonly limits: SessionLimits,
    private readonly onQuota: () => void,
    private readonly inspector: ChunkInspector | null = null,
  ) {}

  start(): void {
    // A shared bucket already in debt: queue behind the sessions that wait, rather than read a
    // first chunk ahead of them (1,000 sessions starting at once would otherwise burst 1,000
    // chunks). Paused before 'data' is attached, which would switch the stream to flowing.
    const debt = this.indebted();
    if (debt !== null) this.park(debt);
    this.src.on('data', this.onData);
    this.src.on('end', this.onEnd);
    this.dst.on('drain', this.onDrain);
    if (debt === null) this.src.resume();
    // A source that already ended (e.g. a body-less request read by an earlier step) emits no
    // 'end' again; pipe() passes that end on as well.
    if (this.src.readableEnded) process.nextTick(() => !this.stopped && this.onEnd());
  }

  /** Writes `data` (the client's early bytes) as if it had been read from src. */
  push(data: Buffer): void {
    this.onData(data);
  }

  stop(): void {
    this.stopped = true;
    this.parked?.cancel(this);
    this.parked = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.src.removeListener('data', this.onData);
    this.src.removeListener('end', this.onEnd);
    this.dst.removeListener('drain', this.onDrain);
  }

  private readonly onData = (raw: Buffer): void => {
    if (this.stopped) return;
    let chunk = raw;
    if (this.inspector !== null) {
      const out = this.inspector.run(raw);
      if (out instanceof ProxyError) {
        this.stop();
        this.inspector.fail(out);
        return;
      }
      chunk = out;
    }
    const room = this.limits.room(this.dir);
    const cut = chunk.length > room;
    const data = cut ? chunk.subarray(0, room) : chunk;
    let ok = true;
    if (data.length > 0) {
      this.bytes += data.length;
      this.limits.account(this.dir, data.length);
      ok = this.dst.write(data);
    }
    if (cut) {
      this.stop();
      this.onQuota();
      return;
    }
    if (!ok) {
      this.drainWait = true;
      this.src.pause();
    }
    if (this.buckets.length === 0) return;
    this.expect = data.length;
    let worst: TokenBucket | null = null;
    let delay = 0;
    let hookDelay = 0;
    for (const b of this.buckets) {
      const d = b.take(data.length);
      if (d <= 0) continue;
      if (!(b instanceof TokenBucket)) hookDelay = Math.max(hookDelay, d);
      else if (d > delay) {
        delay = d;
        worst = b;
      }
    }
    if (hookDelay > 0) this.sleep(hookDelay);
    if (worst !== null) this.park(worst);
  };

  private sleep(ms: number): void {
    this.src.pause();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimer, ms);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.maybeResume();
  };

  /** The bucket's turn came: wait on another one still in debt, or read again. */
  wake(): void {
    this.parked = null;
    if (this.stopped) return;
    const debt = this.indebted();
    if (debt !== null) this.park(debt);
    else this.maybeResume();
  }

  private park(bucket: TokenBucket): void {
    this.src.pause();
    this.parked = bucket;
    bucket.wait(this);
  }

  private indebted(): TokenBucket | null {
    for (const b of this.buckets) if (b instanceof TokenBucket && b.balance() < 0) return b;
    return null;
  }

  /** pipe()'s end propagation: a FIN from src becomes a FIN to dst once the queue is flushed. */
  private readonly onEnd = (): void => {
    if (!this.dst.destroyed) this.dst.end();
  };

  private readonly onDrain = (): void => {
    this.drainWait = false;
    this.maybeResume();
  };

  private maybeResume(): void {
    if (!this.stopped && !this.drainWait && this.parked === null && this.timer === null) this.src.resume();
  }
}

/** Same contract as `streamRelay` (half-close, idle timeout, errors), with the pumps above. */
export function throttledRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const client = session.connection.socket;
    const target = session.target;
    const limits = session.limits;
    if (target === null || limits === null) {
      sub.error(proxyError('PRX_ERR_RELAY_FAILED', 'no target socket'));
      return undefined;
    }
    let finished = false;
    let quota: ProxyError | null = null;
    let clientClosed = false;
    let targetClosed = false;
    const onQuota = (dst: Socket, src: Socket) => (): void => {
      quota = proxyError('PRX_ERR_QUOTA_EXCEEDED', `${limits.countersIn.length + limits.countersOut.length} counter(s)`);
      outPump.stop();
      inPump.stop();
      src.destroy();
      // Let the receiver get every allowed byte before the failure closes its socket.
      dst.end(() => settle(quota));
      graceful(dst);
    };
    // A data filter's refusal mid-stream: nothing protocol-level is left to answer, both sides go.
    const onFiltered = (err: ProxyError): void => {
      quota = err;
      outPump.stop();
      inPump.stop();
      client.destroy();
      target.destroy();
      settle(err);
    };
    const outPump = new Pump(client, target, 'out', limits.bucketsOut, limits, onQuota(target, client), inspectorFor(session, 'dataClient', true, onFiltered));
    const inPump = new Pump(target, client, 'in', limits.bucketsIn, limits, onQuota(client, target), inspectorFor(session, 'dataServer', true, onFiltered));
    limits.countedLive = true;

    const settle = (err: ProxyError | null): void => {
      if (finished) return;
      finished = true;
      session.bytesOut += outPump.bytes;
      session.bytesIn += inPump.bytes;
      cleanup();
      const e = quota ?? err;
      if (e === null) {
        sub.next(session);
        sub.complete();
      } else sub.error(e);
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
      if (quota !== null) return settle(quota);
      if (!opts.halfClose || !target.writableEnded) target.end();
      if (targetClosed) settle(null);
      else if (!opts.halfClose) graceful(target);
    };
    const onTargetClose = (): void => {
      targetClosed = true;
      if (quota !== null) return;
      if (clientClosed) settle(null);
      else if (!opts.halfClose) graceful(client);
    };
    const onClientEnd = (): void => {
      if (!opts.halfClose) client.end();
    };
    const onTargetEnd = (): void => {
      if (!opts.halfClose) target.end();
    };
    function cleanup(): void {
      outPump.stop();
      inPump.stop();
      client.setTimeout(0);
      client.removeListener('error', onClientError);
      target!.removeListener('error', onTargetError);
      client.removeListener('timeout', onTimeout);
      client.removeListener('close', onClientClose);
      target!.removeListener('close', onTargetClose);
      client.removeListener('end', onClientEnd);
      target!.removeListener('end', onTargetEnd);
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
    outPump.start();
    inPump.start();
    if (session.head !== null && session.head.length > 0) {
      const head = session.head;
      session.head = null;
      outPump.push(head);
    }
    if (client.destroyed) onClientClose();
    if (target.destroyed) onTargetClose();
    return () => {
      if (!finished) {
        finished = true;
        session.bytesOut += outPump.bytes;
        session.bytesIn += inPump.bytes;
        cleanup();
        target.destroy();
      }
    };
  });
}

/** Ends `socket` and destroys it if its queued bytes are not written within 2 s. */
