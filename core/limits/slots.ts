/**
 * Global `maxconn`: one process-wide cap on concurrent client connections across every
 * service (3proxy counts threads; a service at the cap stops calling accept, so clients wait
 * in the backlog and get no error).
 *
 *   ServiceRuntime.accept:  per-service maxconn, then slots.tryAcquire() -> run, else wait
 *   connection end (next):  slots.release() -> that service serves its own waiting clients,
 *                           then slots.wake() lets other services with waiting clients take
 *                           what is still free (oldest waiting service first)
 *
 * One instance per runtime, in `env.symbols` under GLOBAL_SLOTS_SYMBOL (created in
 * Runtime.build); `max` Infinity when the root `maxconn` is not set.
 */

/** Key of the shared `ConnectionSlots` in `env.symbols`. */
export const GLOBAL_SLOTS_SYMBOL = 'limits.maxconn';

interface SlotState {
  used: number;
  /** Services with clients waiting for a global slot, in the order they started waiting. */
  readonly waiters: Set<() => void>;
  max: number;
}

export class ConnectionSlots {
  private state: SlotState;

  constructor(max: number = Infinity) {
    this.state = { used: 0, waiters: new Set(), max };
  }

  get max(): number {
    return this.state.max;
  }

  get inUse(): number {
    return this.state.used;
  }

  /**
   * Reload: connections still running on the old runtime keep holding their slots, so both
   * generations share one count (with the new cap) and one wait list.
   */
  adopt(old: ConnectionSlots): void {
    old.state.max = this.state.max;
    this.state = old.state;
  }

  /** Takes a slot; false at the cap (the caller keeps the client waiting). */
  tryAcquire(): boolean {
    const st = this.state;
    if (st.used >= st.max) return false;
    st.used++;
    return true;
  }

  release(): void {
    if (this.state.used > 0) this.state.used--;
  }

  /** `serve` is called when a slot may be free; it removes itself with `unwait` once it has no client waiting. */
  wait(serve: () => void): void {
    this.state.waiters.add(serve);
  }

  unwait(serve: () => void): void {
    this.state.waiters.delete(serve);
  }

  /** Offers free slots to waiting services, oldest first, until none is left. */
  wake(): void {
    const st = this.state;
    for (const serve of [...st.waiters]) {
      if (st.used >= st.max) return;
      serve();
    }
  }
}
