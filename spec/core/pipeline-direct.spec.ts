/**
 * The pipeline's callback runner (DirectRequest): steps with a callback form run without an
 * Observable each; a step without one sends the request through the operator chain. Both must
 * give the same results, failures, clean-up and cancellation.
 */
import { Observable, lastValueFrom, of, tap, toArray } from 'rxjs';
import { duplexPair } from 'node:stream';
import type { Socket } from 'node:net';
import { compilePipeline } from '../../core/pipeline';
import { Registry } from '../../core/registry';
import { defineOperator, sessionStep, withDirectStep, withSourceFn, type OperatorDef } from '../../core/operator';
import { Session, emptyRequest, type Connection, type Responder } from '../../core/session';
import { proxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import { silentLogger } from '../../core/logger';

function connection(): Connection {
  const [a] = duplexPair();
  return { id: 1, socket: a as unknown as Socket, clientAddress: '127.0.0.1', clientPort: 1, localAddress: '127.0.0.1', localPort: 2, acceptedAt: 0 };
}
const service = { name: 's', type: 't', logName: 'T', port: 0 };
const ctx = { service: { name: 's', type: 't', config: {} } };

function envWith(ops: OperatorDef<never>[]): Env {
  const operators = new Registry<OperatorDef<never>>('operator');
  for (const o of ops) operators.register(o.name, o);
  return { operators, logger: silentLogger() } as unknown as Env;
}

let events: string[] = [];
const responder: Responder = {
  fail: (s, e) => void events.push(`answered:${s.request.text}:${e.code}`),
  connected: () => undefined,
};

/** One request per text, the next after the previous has finished (as keep-alive readers do). */
const read = (texts: string[]) => (first: Session): Observable<Session> =>
  new Observable<Session>((sub) => {
    void (async () => {
      for (const t of texts) {
        const s = new Session(first.connection, first.service, { ...emptyRequest('x'), text: t }, responder);
        sub.next(s);
        await s.finished;
      }
      sub.complete();
    })();
  });
const source = defineOperator<{ texts: string[] }>({
  name: 'source',
  kind: 'source',
  schema: {},
  create: (o) => {
    const r = read(o.texts);
    return withSourceFn((s: Observable<Session>) => s.pipe((src) => new Observable<Session>((sub) => src.subscribe((f) => r(f).subscribe(sub)))), r);
  },
});

/** sync, async and failing steps, all with callback forms (sessionStep gets one derived). */
const syncStep = defineOperator<Record<string, never>>({
  name: 'syncStep',
  schema: {},
  create: () =>
    sessionStep((s) => {
      events.push(`sync:${s.request.text}`);
      if (s.request.text === 'throw') throw proxyError('PRX_ERR_ACL_DENIED', 0);
      return s;
    }),
});
const asyncStep = defineOperator<Record<string, never>>({
  name: 'asyncStep',
  schema: {},
  create: () =>
    sessionStep(async (s) => {
      await Promise.resolve();
      events.push(`async:${s.request.text}`);
      if (s.request.text === 'reject') throw proxyError('PRX_ERR_CONNECT_REFUSED', 'x');
      return s;
    }),
});
let cancelled = 0;
/** A relay-like step: own callback form that finishes later, or at once (k before returning). */
const relayStep = defineOperator<Record<string, never>>({
  name: 'relayStep',
  schema: {},
  create: () =>
    Object.assign(
      withDirectStep(
        (src: Observable<Session>) => src.pipe(tap((s) => events.push(`op-relay:${s.request.text}`))),
        (s, k) => {
          if (s.request.text === 'now') {
            events.push('relay-now');
            k(null, s);
            return () => void cancelled++;
          }
          if (s.request.text === 'hang') return () => void cancelled++;
          setImmediate(() => {
            events.push(`relay:${s.request.text}`);
            k(null, s);
          });
          return null;
        },
      ),
      { onFailure: (s: Session) => void events.push(`log-failure:${s.request.text}:${s.error?.code}`) },
    ),
});
/** A step with no callback form (as a plugin's own operator): the operator chain runs instead. */
const plainStep = defineOperator<Record<string, never>>({
  name: 'plainStep',
  schema: {},
  create: () => (src) => src.pipe(tap((s) => events.push(`plain:${s.request.text}`))),
});

const env = envWith([source, syncStep, asyncStep, relayStep, plainStep]);
const steps = (texts: string[], extra: Record<string, unknown>[] = []) => [{ source: { texts } }, { syncStep: {} }, { asyncStep: {} }, ...extra, { relayStep: {} }];

describe('pipeline callback runner', () => {
  beforeEach(() => {
    events = [];
    cancelled = 0;
  });

  it('runs sync, async and callback steps in order, request after request, closing each', async () => {
    const p = compilePipeline(steps(['a', 'now', 'b']), env, ctx);
    const first = new Session(connection(), service, emptyRequest('x'));
    const out = await lastValueFrom(p.runFirst(first).pipe(toArray()));
    expect(out.map((s) => s.request.text)).toEqual(['a', 'now', 'b']);
    expect(out.every((s) => s.closed)).toBe(true);
    expect(events).toEqual(['sync:a', 'async:a', 'relay:a', 'sync:now', 'async:now', 'relay-now', 'sync:b', 'async:b', 'relay:b']);
    // A step that called k before returning is finished: its cancel is not kept or called.
    expect(cancelled).toBe(0);
  });

  it('answers a failure, runs the failure hooks once and ends the connection with the error', async () => {
    for (const [text, code] of [
      ['throw', 'PRX_ERR_ACL_DENIED'],
      ['reject', 'PRX_ERR_CONNECT_REFUSED'],
    ] as const) {
      events = [];
      const p = compilePipeline(steps([text, 'never']), env, ctx);
      const first = new Session(connection(), service, emptyRequest('x'));
      await expect(lastValueFrom(p.runFirst(first))).rejects.toMatchObject({ code });
      expect(events.filter((e) => e.startsWith('log-failure') || e.startsWith('answered'))).toEqual([`log-failure:${text}:${code}`, `answered:${text}:${code}`]);
      expect(events.some((e) => e.includes('never') || e.startsWith('relay'))).toBe(false);
    }
  });

  it('fails a request that was read with an error without running any step', async () => {
    const errored = defineOperator<Record<string, never>>({
      name: 'errored',
      kind: 'source',
      schema: {},
      create: () => (src) =>
        new Observable<Session>((sub) =>
          src.subscribe((f) => {
            const s = new Session(f.connection, f.service, { ...emptyRequest('x'), text: 'bad' }, responder);
            s.error = proxyError('PRX_ERR_REQUEST_MALFORMED', 'bad');
            sub.next(s);
          }),
        ),
    });
    const p = compilePipeline([{ errored: {} }, { syncStep: {} }, { relayStep: {} }], envWith([errored, syncStep, relayStep]), ctx);
    await expect(lastValueFrom(of(new Session(connection(), service, emptyRequest('x'))).pipe(p.run))).rejects.toMatchObject({ code: 'PRX_ERR_REQUEST_MALFORMED' });
    expect(events).toEqual(['log-failure:bad:PRX_ERR_REQUEST_MALFORMED', 'answered:bad:PRX_ERR_REQUEST_MALFORMED']);
  });

  it('cancels the pending step and closes the session when unsubscribed', async () => {
    const p = compilePipeline(steps(['hang']), env, ctx);
    const first = new Session(connection(), service, emptyRequest('x'));
    const sub = p.runFirst(first).subscribe();
    await new Promise((r) => setImmediate(r));
    const current = first.connection.latest ?? null;
    expect(current?.request.text).toBe('hang');
    expect(current?.closed).toBe(false);
    sub.unsubscribe();
    expect(cancelled).toBe(1);
    expect(current?.closed).toBe(true);
  });

  it('runs the operator chain when a step has no callback form, with the same results', async () => {
    const p = compilePipeline(steps(['a', 'throw'], [{ plainStep: {} }]), env, ctx);
    const first = new Session(connection(), service, emptyRequest('x'));
    await expect(lastValueFrom(p.runFirst(first))).rejects.toMatchObject({ code: 'PRX_ERR_ACL_DENIED' });
    expect(events).toEqual(['sync:a', 'async:a', 'plain:a', 'op-relay:a', 'sync:throw', 'log-failure:throw:PRX_ERR_ACL_DENIED', 'answered:throw:PRX_ERR_ACL_DENIED']);
  });
});
