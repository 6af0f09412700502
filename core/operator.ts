/**
 * Operators: the named, schema-checked steps a service pipeline is made of.
 *
 *   defineOperator({ name, schema, create(options, env) })
 *
 * `create` runs once per service (validate, precompile: ACL matchers, parent lists, the relay
 * fast path); the function it returns runs per session. This is undici's interceptor split and
 * Envoy's Config/Filter split. A `readRequest`-kind operator ("source") turns the connection's
 * first Session into one or more request Sessions; the compiler runs the rest per request.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Session } from './session';
import type { Env } from './env';
import type { CompiledPipeline } from './pipeline';
import { toProxyError, type ProxyError } from './errors';

export type JsonSchema = Record<string, unknown>;

export interface OperatorContext {
  /** The service the operator is compiled for. */
  readonly service: ServiceContext;
  /**
   * The pipeline this operator is part of, once compiled (call it per session, not in create):
   * a step that opens a nested connection (MITM's decrypted tunnel) runs it through the same steps.
   */
  readonly pipeline?: () => CompiledPipeline;
}

/** The parts of a service's config an operator may read at create time. */
export interface ServiceContext {
  readonly name: string;
  readonly type: string;
  /** The whole validated service entry (acl, auth, timeouts, options, target, ...). */
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * What `create` returns: the per-session operator, optionally with `onFailure`, which the
 * compiler calls once when a request fails anywhere in the pipeline (the `log` step records
 * failures this way; the error does not need to carry the session).
 */
export type StepFunction = OperatorFunction<Session, Session> & {
  onFailure?: (session: Session, error: ProxyError) => void;
};

export interface OperatorDef<O = Record<string, unknown>> {
  /** YAML key of the step (`readRequest`, `connect`, `myplugin.stamp`). */
  readonly name: string;
  /** JSON Schema of the step's options; must have a description on every property. */
  readonly schema: JsonSchema;
  /** `source` for readRequest-like steps that emit several sessions per connection. */
  readonly kind?: 'source' | 'step';
  /** Runs once per service. */
  create(options: O, env: Env, ctx: OperatorContext): StepFunction;
}

/** Identity helper that keeps the options type (use `as const` schemas + FromSchema-like types). */
export function defineOperator<O>(def: OperatorDef<O>): OperatorDef<O> {
  return def;
}

/** A signal that never aborts, for calls whose callee takes no signal (no AbortController made). */
export const UNUSED_SIGNAL: AbortSignal = new AbortController().signal;

/**
 * Per-session step helper (our stand-in for RxJS's internal `operate`): `fn` gets the session
 * and the session's AbortSignal; it may return the session (sync), a promise, or throw. Throws
 * and rejections become ProxyErrors on the stream. The signal is the session's own: the
 * pipeline compiler closes (aborts) the session when its stream ends or is unsubscribed, so
 * pending DNS lookups, connects and auth backends stop, and no per-step AbortController is
 * allocated on the hot path. Results that arrive after unsubscription are dropped.
 */
export type SessionStepFn = (session: Session, signal: AbortSignal) => Session | Promise<Session>;

/**
 * The callback form of a step, which the pipeline compiler runs instead of the operator when
 * every step of a request has one (the request then costs one Observable, not one per step).
 * It returns the session when it finished synchronously (or throws), else a cancel function
 * (or null) and calls `k` once later: `k(null, session)` on success, `k(error, session)` on
 * failure. Calling `k` before returning is allowed. Cancel runs when the request's stream is
 * unsubscribed before `k` was called (connection killed, service stopped).
 */
export type DirectStepFn = (session: Session, k: StepCallback) => Session | (() => void) | null;
export type StepCallback = (err: unknown, session: Session) => void;

const DIRECT_FN = Symbol('rx3proxy.directStep');

/** Gives an operator its callback form (the two must do the same thing). */
export function withDirectStep<T extends OperatorFunction<Session, Session>>(op: T, fn: DirectStepFn): T {
  return Object.assign(op, { [DIRECT_FN]: fn });
}

/** The callback form of a step: its own, or one made from a sessionStep's function. */
export function directStepFn(op: OperatorFunction<Session, Session>): DirectStepFn | undefined {
  const own = (op as { [DIRECT_FN]?: DirectStepFn })[DIRECT_FN];
  if (own !== undefined) return own;
  const fn = sessionStepFn(op);
  return fn === undefined ? undefined : directFromSessionStep(fn);
}

function directFromSessionStep(fn: SessionStepFn): DirectStepFn {
  const wantsSignal = fn.length >= 2;
  return (session, k) => {
    const r = fn(session, wantsSignal ? session.abort.signal : UNUSED_SIGNAL);
    if (!(r instanceof Promise)) return r;
    r.then(
      (s) => k(null, s),
      (err: unknown) => k(err, session),
    );
    return null;
  };
}

const SOURCE_FN = Symbol('rx3proxy.sourceStep');

/**
 * Marks a source step (`concatMap(read)`) with its per-connection function, so the compiler can
 * start a connection with `read(first)` instead of `of(first).pipe(concatMap(read))`.
 */
export function withSourceFn<T extends OperatorFunction<Session, Session>>(
  op: T,
  read: (first: Session) => Observable<Session>,
  single?: (first: Session) => Session,
): T {
  return Object.assign(op, { [SOURCE_FN]: { read, single } });
}

/** A source step's per-connection function, and its `single` form when it makes one request at once. */
export interface SourceFns {
  readonly read: (first: Session) => Observable<Session>;
  readonly single: ((first: Session) => Session) | undefined;
}

export function sourceFn(op: OperatorFunction<Session, Session>): SourceFns | undefined {
  return (op as { [SOURCE_FN]?: SourceFns })[SOURCE_FN];
}

/** Where sessionStep keeps a step's function, so the compiler can fuse adjacent steps. */
const STEP_FN = Symbol('rx3proxy.sessionStep');

/** The function behind an operator made by sessionStep, if it is one. */
export function sessionStepFn(op: OperatorFunction<Session, Session>): SessionStepFn | undefined {
  return (op as { [STEP_FN]?: SessionStepFn })[STEP_FN];
}

/**
 * Adjacent sessionSteps as one operator (the pipeline compiler's operator fusion): the
 * functions run in order, synchronously while they answer synchronously, on one Observable and
 * one subscriber per request instead of one per step. Each function gets a signal only if it
 * takes one, as in sessionStep. After an asynchronous function, a session that was closed
 * meanwhile (the connection went away) runs no further steps, as separate steps would not.
 */
export function fuseSessionSteps(fns: readonly SessionStepFn[]): OperatorFunction<Session, Session> {
  const runFrom = (session: Session, start: number): Session | Promise<Session> => {
    let s = session;
    for (let i = start; i < fns.length; i++) {
      const f = fns[i]!;
      const r = f(s, f.length >= 2 ? s.abort.signal : UNUSED_SIGNAL);
      if (r instanceof Promise) {
        const next = i + 1;
        return next === fns.length ? r : r.then((v) => (v.closed ? v : runFrom(v, next)));
      }
      s = r;
    }
    return s;
  };
  return sessionStep((session) => runFrom(session, 0));
}

export function sessionStep(fn: SessionStepFn): OperatorFunction<Session, Session> {
  const op: OperatorFunction<Session, Session> = (source) =>
    new Observable<Session>((sub) => {
      let active = 0;
      let sourceDone = false;
      let closed = false;
      const maybeComplete = (): void => {
        if (sourceDone && active === 0) sub.complete();
      };
      const inner = source.subscribe({
        next(session) {
          let result: Session | Promise<Session>;
          try {
            // Steps that take no signal do not make the session create an AbortController.
            result = fn(session, fn.length >= 2 ? session.abort.signal : UNUSED_SIGNAL);
          } catch (err) {
            sub.error(toProxyError(err));
            return;
          }
          if (!(result instanceof Promise)) {
            sub.next(result);
            maybeComplete();
            return;
          }
          active++;
          result.then(
            (s) => {
              active--;
              if (closed) return;
              sub.next(s);
              maybeComplete();
            },
            (err: unknown) => {
              active--;
              if (!closed) sub.error(toProxyError(err));
            },
          );
        },
        error(err: unknown) {
          sub.error(err);
        },
        complete() {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => {
        closed = true;
        inner.unsubscribe();
      };
    });
  return Object.assign(op, { [STEP_FN]: fn });
}
