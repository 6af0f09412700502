/**
 * Pipeline compiler: YAML steps -> one OperatorFunction<Session, Session>.
 *
 *   connection Session
 *     └─ readRequest (source: emits one Session per request; HTTP keep-alive emits several)
 *          └─ concatMap, per request:
 *               of(req) ─ [failed at parse? throw] ─ filterRequest ─ ... ─ mapSockets ─ log
 *                 catchError: record the error on the session, answer the client through
 *                             req.responder (the protocol that read it), end the connection
 *                 finalize:   req.close() (target socket, pending async steps)
 *
 * Requests run one at a time per connection (concatMap): the next request is not processed
 * before the previous one has finished, which is what keep-alive parsers rely on.
 */
import { EMPTY, Observable, type OperatorFunction, type Subscriber, catchError, concatMap, finalize, from, of, throwError } from 'rxjs';
import type { Session } from './session';
import type { Env } from './env';
import {
  directStepFn,
  sourceFn,
  fuseSessionSteps,
  sessionStepFn,
  type DirectStepFn,
  type OperatorContext,
  type OperatorDef,
  type SessionStepFn,
  type StepCallback,
  type StepFunction,
} from './operator';
import { proxyError, toProxyError, type ProxyError } from './errors';
import { filterStreamRequest } from '../operators/filters/http';
import { hooksOf, type TrafficHookFn } from './plugin-hooks';

export type StepSpec = Readonly<Record<string, unknown>>;

export interface CompiledPipeline {
  /** Connection-level operator: the service subscribes `of(firstSession).pipe(run)`. */
  readonly run: OperatorFunction<Session, Session>;
  /** Step names in order, for diagnostics. */
  readonly steps: readonly string[];
  /**
   * The same as `of(first).pipe(run)` for one connection's first session, with one Observable and
   * one concatMap fewer when the source step exposes its per-connection function.
   */
  readonly runFirst: (first: Session) => Observable<Session>;
}

/** Splits a step `{ name: options }` into its name and options. */
export function stepParts(step: StepSpec): [string, Record<string, unknown>] {
  const keys = Object.keys(step);
  if (keys.length !== 1) throw proxyError('PRX_ERR_PIPELINE_SHAPE', `a step must have exactly one key, got ${keys.length}`);
  const name = keys[0]!;
  const options = step[name];
  return [name, (options ?? {}) as Record<string, unknown>];
}

/**
 * Throws the error a source attached to a session (malformed request, handshake timeout), or
 * the refusal of a plugin filter's request stage (HTTP runs its own in the reader).
 */
function failIfErrored(req: Session): Observable<Session> {
  if (req.error === null && req.connection.filters != null && req.request.protocol !== 'http') req.error = filterStreamRequest(req);
  return req.error === null ? of(req) : throwError(() => req.error);
}

/**
 * Compiles the steps once per service. The first step must be a `source` operator
 * (readRequest); the rest run per request.
 */
export function compilePipeline(steps: readonly StepSpec[], env: Env, ctx: OperatorContext): CompiledPipeline {
  if (steps.length === 0) throw proxyError('PRX_ERR_PIPELINE_SHAPE', 'empty pipeline');
  const names: string[] = [];
  const built: { def: OperatorDef<never>; op: StepFunction }[] = [];
  let self: CompiledPipeline | null = null;
  const stepCtx: OperatorContext = {
    ...ctx,
    pipeline: () => {
      if (self === null) throw proxyError('PRX_ERR_PIPELINE_SHAPE', 'the pipeline is used before it is compiled');
      return self;
    },
  };
  for (const step of steps) {
    const [name, options] = stepParts(step);
    const def = env.operators.require(name);
    names.push(name);
    built.push({ def, op: def.create(options as never, env, stepCtx) });
  }
  const [first, ...rest] = built;
  if (first === undefined || first.def.kind !== 'source') {
    throw proxyError('PRX_ERR_PIPELINE_SHAPE', `the first step must read the request (readRequest), got "${names[0]}"`);
  }
  const misplaced = rest.find((b) => b.def.kind === 'source');
  if (misplaced !== undefined) throw proxyError('PRX_ERR_PIPELINE_SHAPE', `"${misplaced.def.name}" can only be the first step`);

  const direct = rest.map((b) => directStepFn(b.op));
  const traffic = hooksOf(env)?.trafficFor(ctx.service.name) ?? [];
  const done = traffic.length === 0 ? (req: Session) => req.close() : countedClose(traffic.map((h) => h.fn), env);
  const failureHooks = rest.flatMap((b) => (b.op.onFailure === undefined ? [] : [b.op.onFailure]));
  // When every step has a callback form (the built-in ones do), a request is one Observable
  // that runs the steps in turn (DirectRequest): the same steps, failure handling and clean-up as
  // the operator chain below, without an Observable and a subscriber per step.
  const runRequest = direct.every((d): d is DirectStepFn => d !== undefined)
    ? directRunner(direct, failureHooks, done)
    : operatorRunner(fuseAdjacentSteps(rest.map((b) => b.op)), failureHooks, done);

  const run: OperatorFunction<Session, Session> = (source) => source.pipe(first.op, concatMap(runRequest));
  const source = sourceFn(first.op);
  const single = source?.single;
  const runFirst =
    source === undefined
      ? (s: Session) => of(s).pipe(run)
      : single !== undefined
        ? (s: Session) => {
            let req: Session;
            try {
              req = single(s);
            } catch (err) {
              return throwError(() => err);
            }
            return runRequest(req);
          }
        : (s: Session) => source.read(s).pipe(concatMap(runRequest));
  self = { run, steps: names, runFirst };
  return self;
}

type FailureHook = (s: Session, e: ProxyError) => void;

function directRunner(steps: readonly DirectStepFn[], hooks: readonly FailureHook[], done: (req: Session) => void): (req: Session) => Observable<Session> {
  return (req) =>
    new Observable<Session>((sub) => {
      const run = new DirectRequest(req, steps, hooks, sub);
      run.start();
      return () => {
        run.stop();
        done(req);
      };
    });
}

/**
 * One request through the callback forms of its steps. Steps that finish synchronously run in
 * a loop (no recursion); an asynchronous step resumes the loop through `k`. A failure anywhere
 * is handled as answerFailure does: recorded on the session, failure hooks (log), the
 * protocol's answer, then the error on the stream so the service ends the connection.
 */
class DirectRequest {
  private next = 0;
  private cancel: (() => void) | null = null;
  private inCall = false;
  private syncDone = false;
  private syncErr: unknown = null;
  private syncSession: Session | null = null;
  private stopped = false;
  private readonly k: StepCallback;
  /** Null once the request is over (release). */
  private req: Session | null;
  private sub: Subscriber<Session> | null;

  constructor(
    req: Session,
    private readonly steps: readonly DirectStepFn[],
    private readonly hooks: readonly FailureHook[],
    sub: Subscriber<Session>,
  ) {
    this.req = req;
    this.sub = sub;
    this.k = (err, s) => this.resume(err, s);
  }

  start(): void {
    const req = this.req!;
    if (req.error === null && req.connection.filters != null && req.request.protocol !== 'http') req.error = filterStreamRequest(req);
    if (req.error !== null) this.fail(req.error);
    else this.advance(req);
  }

  /** Unsubscribed: results that arrive later are dropped, a pending step is cancelled. */
  stop(): void {
    this.stopped = true;
    const cancel = this.cancel;
    this.cancel = null;
    if (cancel !== null) cancel();
    this.release();
  }

  /**
   * Drops what this request points at once it is over. Without this, a runner that outlived a
   * scavenge (V8 promoted it) kept the young objects it referenced alive through the next ones, and
   * on keep-alive connections requests were promoted in a cascade: in one HTTP keep-alive run a
   * 2.7 MB old-space growth per scavenge, 7 full GCs in 12 s and a third more CPU per request.
   */
  private release(): void {
    this.stopped = true;
    this.req = null;
    this.sub = null;
    this.syncSession = null;
    this.syncErr = null;
  }

  private resume(err: unknown, s: Session): void {
    if (this.stopped) return;
    if (this.inCall) {
      this.syncDone = true;
      this.syncErr = err;
      this.syncSession = s;
      return;
    }
    this.cancel = null;
    if (err != null) this.fail(err);
    else this.advance(s);
  }

  private advance(session: Session): void {
    let s = session;
    const steps = this.steps;
    while (this.next < steps.length) {
      const step = steps[this.next++]!;
      let r: Session | (() => void) | null;
      this.inCall = true;
      this.syncDone = false;
      try {
        r = step(s, this.k);
      } catch (err) {
        this.inCall = false;
        this.fail(err);
        return;
      }
      this.inCall = false;
      if (this.syncDone) {
        if (this.syncErr != null) {
          this.fail(this.syncErr);
          return;
        }
        s = this.syncSession!;
        this.syncSession = null;
        continue;
      }
      if (r === null || typeof r === 'function') {
        this.cancel = r;
        return;
      }
      s = r;
    }
    const sub = this.sub!;
    this.release();
    sub.next(s);
    sub.complete();
  }

  private fail(err: unknown): void {
    this.next = this.steps.length;
    const req = this.req!;
    const error = toProxyError(err);
    if (req.error === null) req.error = error;
    runFailureHooks(this.hooks, req, req.error);
    let answered: void | Promise<void>;
    try {
      answered = req.responder.fail(req, error);
    } catch {
      // The client is gone or the socket is broken; the connection is closed anyway.
      answered = undefined;
    }
    const sub = this.sub!;
    this.release();
    if (answered instanceof Promise) {
      answered.then(
        () => sub.error(error),
        () => sub.error(error),
      );
    } else sub.error(error);
  }
}

function runFailureHooks(hooks: readonly FailureHook[], req: Session, error: ProxyError): void {
  for (const hook of hooks) {
    try {
      hook(req, error);
    } catch {
      // A failing log hook must not keep the client from getting its answer.
    }
  }
}

/** The operator chain per request, for pipelines with a step that has no callback form (plugins). */
function operatorRunner(
  perRequest: readonly OperatorFunction<Session, Session>[],
  failureHooks: readonly FailureHook[],
  done: (req: Session) => void,
): (req: Session) => Observable<Session> {
  // concatMap subscribes to what runRequest returns at once, so the chain is assembled here
  // (no defer); an operator that throws while assembling fails the request like one that errors.
  return (req: Session): Observable<Session> => {
    let chain: Observable<Session>;
    try {
      chain = failIfErrored(req);
      for (const op of perRequest) chain = op(chain);
    } catch (err) {
      chain = throwError(() => err);
    }
    return chain.pipe(
      catchError((err: unknown) => answerFailure(req, err, failureHooks)),
      finalize(() => done(req)),
    );
  };
}

/**
 * Runs of adjacent sessionStep operators become one operator each (fuseSessionSteps): same
 * steps, same order, fewer Observables and subscribers per request. Other operators (concatMap
 * relays, tap, plugins' own operators) stay where they are.
 */
function fuseAdjacentSteps(ops: readonly StepFunction[]): OperatorFunction<Session, Session>[] {
  const out: OperatorFunction<Session, Session>[] = [];
  let run: { op: StepFunction; fn: SessionStepFn }[] = [];
  const flush = (): void => {
    if (run.length === 1) out.push(run[0]!.op);
    else if (run.length > 1) out.push(fuseSessionSteps(run.map((r) => r.fn)));
    run = [];
  };
  for (const op of ops) {
    const fn = sessionStepFn(op);
    if (fn === undefined) {
      flush();
      out.push(op);
    } else run.push({ op, fn });
  }
  flush();
  return out;
}

/**
 * A failed request: keep the error on the session (the `log` step already recorded it if it
 * ran), let the protocol answer, then end the connection with the error so the service closes
 * the client socket. A responder that throws cannot hide the original error.
 */
function answerFailure(
  req: Session,
  err: unknown,
  hooks: readonly FailureHook[],
): Observable<never> {
  const error = toProxyError(err);
  if (req.error === null) req.error = error;
  runFailureHooks(hooks, req, req.error);
  return from(
    (async () => {
      try {
        await req.responder.fail(req, error);
      } catch {
        // The client is gone or the socket is broken; the connection is closed anyway.
      }
    })(),
  ).pipe(concatMap(() => throwError(() => error)));
}

/**
 * Session end with plugin traffic hooks (3proxy trafcountfunc): each sees the final byte counts
 * once; a hook that throws is logged and does not keep the others from running.
 */
function countedClose(fns: readonly TrafficHookFn[], env: Env): (req: Session) => void {
  return (req) => {
    req.close();
    for (const fn of fns) {
      try {
        fn(req);
      } catch (err) {
        env.logger.error({ err, service: req.service.name }, 'plugin traffic hook failed');
      }
    }
  };
}

/** A pipeline step that does nothing; handy for templates and tests. */
export const passThrough: OperatorFunction<Session, Session> = (s) => s;

export { EMPTY };
