/**
 * The filter API (3proxy's `struct filter`), typed. A plugin registers a FilterDef with
 * `api.filter(def)`; a service lists it by its full name in `filters: [<plugin>.<name>]`.
 *
 *   service start      open(service)            -> per-service state, or null: not used here
 *   connection accept  client(opened, session)  -> PASS: not attached to this connection,
 *                                                  CONTINUE: attached, else the connection is dropped
 *   per request        request, headerClient    (HTTP request line / header block; other
 *                                                  protocols: request as `CONNECT host:port`)
 *   per response       headerServer             (HTTP status line + header block)
 *   relay              dataClient, dataServer   (stream chunks; HTTP bodies up to filterMaxSize)
 *   connection end     clear(state)
 *   service stop       close(opened)
 *
 * Buffer stages run in the service's `filters:` order: CONTINUE goes on to the next filter, the
 * first other result ends the chain. PASS accepts, REJECT and REMOVE refuse the request (3proxy
 * 517, an HTTP 503 "violates configured policy" page), HANDLED means the filter answered the
 * client itself and the connection ends with result 0. Stages are synchronous, as 3proxy's
 * callbacks are; a filter that throws fails the request with PRX_ERR_FILTER_FAILED.
 */
import type { Session } from './session';
import type { ServiceContext } from './operator';
import type { Env } from './env';

export const FilterResult = {
  PASS: 'PASS',
  CONTINUE: 'CONTINUE',
  HANDLED: 'HANDLED',
  REJECT: 'REJECT',
  REMOVE: 'REMOVE',
} as const;
export type FilterResult = (typeof FilterResult)[keyof typeof FilterResult];

/** The stages that see bytes. */
export type BufferStage = 'request' | 'headerClient' | 'headerServer' | 'dataClient' | 'dataServer';
export const BUFFER_STAGES: readonly BufferStage[] = ['request', 'headerClient', 'headerServer', 'dataClient', 'dataServer'];

/** What a buffer stage sees and may edit (3proxy's buf/bufsize/length). */
export interface FilterBuffer {
  /** The bytes; a filter that rewrites them assigns a new Buffer. */
  data: Buffer;
  /**
   * False when the length is already announced to the peer (an HTTP body larger than
   * filterMaxSize streams with its Content-Length; 3proxy's nooverwritefilter): edits must keep
   * the length, a resized buffer is ignored.
   */
  readonly resizable: boolean;
}

export type BufferFilterFn<C> = (state: C, session: Session, buf: FilterBuffer) => FilterResult;

/** `client`'s answer: a result, or CONTINUE with per-connection state for the buffer stages. */
export type ClientResult<C> = FilterResult | { readonly result: FilterResult; readonly state: C };

export interface FilterDef<O = unknown, C = O> {
  /** Registered as `<plugin>.<name>`. */
  readonly name: string;
  /** Once per service that lists the filter; null means "not for this service". */
  open(service: ServiceContext, env: Env): O | null;
  /**
   * The stages this opened instance takes part in (default: every stage function defined). A
   * filter whose data stages are not needed by a service declares so here, and that service's
   * sessions stay on pipe() (3proxy sets only the filter_* pointers a rule needs).
   */
  stages?(opened: O): readonly BufferStage[];
  /** Per connection, before any byte is read; absent = CONTINUE with the opened state. */
  client?(opened: O, session: Session): ClientResult<C>;
  request?: BufferFilterFn<C>;
  headerClient?: BufferFilterFn<C>;
  headerServer?: BufferFilterFn<C>;
  dataClient?: BufferFilterFn<C>;
  dataServer?: BufferFilterFn<C>;
  /** Connection end, for every attached connection. */
  clear?(state: C): void;
  /** Service stop, for every service where open returned a state. */
  close?(opened: O): void;
}

/** Identity with types: declares a filter. */
export function defineFilter<O, C = O>(def: FilterDef<O, C>): FilterDef<O, C> {
  return def;
}
