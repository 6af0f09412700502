/**
 * Running the filters of a service (3proxy's filter list copied per service, then per client).
 *
 *   ServiceRuntime  -> ServiceFilters.open(names)     open() of each listed filter
 *   accept          -> attach(session)                client() of each; the CONTINUEs stay
 *                      connection.filters = ConnectionFilters | null (none attached)
 *   stages          -> run(stage, session, buf)       chain in list order
 *   connection end  -> clear();  service stop -> close()
 *
 * A service without `filters:` has no ServiceFilters at all, and a connection with nothing
 * attached has `filters === null`: the request and relay paths check that one field.
 */
import type { Env } from './env';
import type { Session } from './session';
import type { ServiceContext } from './operator';
import type { Logger } from './logger';
import type { ProxyError} from './errors';
import { proxyError } from './errors';
import { BUFFER_STAGES, FilterResult, type BufferStage, type FilterBuffer, type FilterDef } from './filter-api';

/** env.symbols key of the plugin filters (Map full name -> FilterDef). */
export const FILTERS_SYMBOL = 'plugins.filters';

type AnyFilter = FilterDef<unknown, unknown>;

interface Opened {
  readonly name: string;
  readonly def: AnyFilter;
  readonly opened: unknown;
  readonly stages: ReadonlySet<BufferStage>;
}

interface Attached {
  readonly name: string;
  readonly def: AnyFilter;
  readonly state: unknown;
  readonly stages: ReadonlySet<BufferStage>;
}

/** How a chain ended: accepted (null), or the error the request fails with. */
export type StageOutcome = ProxyError | null;

export class ConnectionFilters {
  /** Per stage, the attached filters that implement it (empty arrays skipped by has()). */
  private readonly byStage: Record<BufferStage, Attached[]>;

  constructor(private readonly attached: readonly Attached[]) {
    this.byStage = { request: [], headerClient: [], headerServer: [], dataClient: [], dataServer: [] };
    for (const a of attached) {
      for (const stage of a.stages) this.byStage[stage].push(a);
    }
  }

  has(stage: BufferStage): boolean {
    return this.byStage[stage].length > 0;
  }

  /** True when a data stage is attached: the relay leaves pipe() for the filtered path. */
  get hasData(): boolean {
    return this.has('dataClient') || this.has('dataServer');
  }

  /**
   * Runs one stage's chain over `buf` (edited in place). Null when accepted, else the error:
   * PRX_ERR_FILTER_REJECT (REJECT, REMOVE), PRX_ERR_FILTER_HANDLED, PRX_ERR_FILTER_FAILED (threw).
   */
  run(stage: BufferStage, session: Session, buf: FilterBuffer): StageOutcome {
    for (const a of this.byStage[stage]) {
      const before = buf.data;
      let result: FilterResult;
      try {
        result = a.def[stage]!(a.state, session, buf);
      } catch (err) {
        buf.data = before;
        return proxyError('PRX_ERR_FILTER_FAILED', a.name, err instanceof Error ? err.message : String(err));
      }
      if (!Buffer.isBuffer(buf.data) || (!buf.resizable && buf.data.length !== before.length)) buf.data = before;
      if (result === FilterResult.CONTINUE) continue;
      return outcome(result, a.name);
    }
    return null;
  }

  /** Connection end: each attached filter's clear(); a throwing clear is logged, never thrown. */
  clear(logger: Logger): void {
    for (const a of this.attached) {
      try {
        a.def.clear?.(a.state);
      } catch (err) {
        logger.error({ err, filter: a.name }, 'filter clear failed');
      }
    }
  }
}

/** A chain's final result as the request's fate. */
export function outcome(result: FilterResult, name: string): StageOutcome {
  switch (result) {
    case FilterResult.PASS:
    case FilterResult.CONTINUE:
      return null;
    case FilterResult.HANDLED:
      return proxyError('PRX_ERR_FILTER_HANDLED', name);
    case FilterResult.REJECT:
    case FilterResult.REMOVE:
      return proxyError('PRX_ERR_FILTER_REJECT', name);
    default:
      return proxyError('PRX_ERR_FILTER_FAILED', name, `unknown result ${String(result)}`);
  }
}

export class ServiceFilters {
  private constructor(
    private readonly opened: readonly Opened[],
    private readonly logger: Logger,
  ) {}

  /**
   * open() of every listed filter; null when the list is empty or every open() declined.
   * An unknown name is PRX_ERR_UNKNOWN_NAME, a throwing open() PRX_ERR_FILTER_FAILED.
   */
  static open(names: readonly string[], service: ServiceContext, env: Env): ServiceFilters | null {
    if (names.length === 0) return null;
    const defs = env.symbols.get(FILTERS_SYMBOL) as ReadonlyMap<string, AnyFilter> | undefined;
    const opened: Opened[] = [];
    for (const name of names) {
      const def = defs?.get(name);
      if (def === undefined) throw proxyError('PRX_ERR_UNKNOWN_NAME', 'filter', name);
      let state: unknown;
      try {
        state = def.open(service, env);
      } catch (err) {
        throw proxyError('PRX_ERR_FILTER_FAILED', name, err instanceof Error ? err.message : String(err));
      }
      if (state === null || state === undefined) continue;
      const declared = def.stages?.(state) ?? BUFFER_STAGES;
      const stages = new Set(declared.filter((st) => BUFFER_STAGES.includes(st) && typeof def[st] === 'function'));
      opened.push({ name, def, opened: state, stages });
    }
    return opened.length === 0 ? null : new ServiceFilters(opened, env.logger.child({ service: service.name }));
  }

  /**
   * client() of each filter for a new connection: the attached set (null when none attached),
   * or the error that drops the connection (HANDLED, REJECT, REMOVE, a throw).
   */
  attach(session: Session): ConnectionFilters | null | ProxyError {
    const attached: Attached[] = [];
    for (const o of this.opened) {
      let answer;
      try {
        answer = o.def.client === undefined ? FilterResult.CONTINUE : o.def.client(o.opened, session);
      } catch (err) {
        new ConnectionFilters(attached).clear(this.logger);
        return proxyError('PRX_ERR_FILTER_FAILED', o.name, err instanceof Error ? err.message : String(err));
      }
      const result = typeof answer === 'string' ? answer : answer.result;
      const state = typeof answer === 'string' ? o.opened : answer.state;
      if (result === FilterResult.PASS) continue;
      if (result !== FilterResult.CONTINUE) {
        new ConnectionFilters(attached).clear(this.logger);
        return outcome(result, o.name) ?? proxyError('PRX_ERR_FILTER_FAILED', o.name, 'bad client result');
      }
      attached.push({ name: o.name, def: o.def, state, stages: o.stages });
    }
    return attached.length === 0 ? null : new ConnectionFilters(attached);
  }

  /** Service stop: close() of each opened filter. */
  close(): void {
    for (const o of this.opened) {
      try {
        o.def.close?.(o.opened);
      } catch (err) {
        this.logger.error({ err, filter: o.name }, 'filter close failed');
      }
    }
  }
}
