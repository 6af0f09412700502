/**
 * The live connections of a service (TCP) or its associations (UDP): both runtimes cut,
 * count and wait on them the same way, for graceful stop, reload and the admin's "close".
 */
import type { Subscription } from 'rxjs';
import type { Connection, Session } from './session';

/** A live client connection and the subscription that owns it. */
export interface LiveConnection {
  readonly connection: Connection;
  readonly subscription: Subscription;
  /** The request being processed, if any (admin pages show it). */
  current: Session | null;
}

export class LiveSet extends Set<LiveConnection> {
  /** Called when the last live connection ends (graceful stop waits on this, not on a poll). */
  private readonly drainWaiters = new Set<() => void>();

  override delete(entry: LiveConnection): boolean {
    const had = super.delete(entry);
    if (had && this.size === 0) for (const w of [...this.drainWaiters]) w();
    return had;
  }

  /** Cuts every live connection now. */
  killAll(): void {
    for (const c of [...this]) c.subscription.unsubscribe();
  }

  /** Cuts one connection (admin "close session"); false when it is not live here. */
  kill(connectionId: number): boolean {
    for (const c of this) {
      if (c.connection.id === connectionId) {
        c.subscription.unsubscribe();
        return true;
      }
    }
    return false;
  }

  /** Resolves when nothing is live (tests and graceful stop wait on it). */
  whenIdle(): Promise<void> {
    return this.drained(0);
  }

  /** Resolves when nothing is live, or after `timeoutMs` (0: no time limit). */
  drained(timeoutMs: number): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        if (timer !== null) clearTimeout(timer);
        this.drainWaiters.delete(finish);
        resolve();
      };
      const timer = timeoutMs > 0 ? setTimeout(finish, timeoutMs) : null;
      this.drainWaiters.add(finish);
    });
  }
}
