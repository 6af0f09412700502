/** The pipeline compiler: source steps, per-request order, failure handling, teardown. */
import { Observable, of, lastValueFrom, toArray } from 'rxjs';
import { duplexPair } from 'node:stream';
import type { Socket } from 'node:net';
import { TestScheduler } from 'rxjs/testing';
import { compilePipeline } from '../../core/pipeline';
import { Registry } from '../../core/registry';
import { defineOperator, sessionStep, type OperatorDef } from '../../core/operator';
import { Session, emptyRequest, type Connection, type Responder } from '../../core/session';
import { proxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import { silentLogger } from '../../core/logger';

function connection(): Connection {
  const [a] = duplexPair();
  return { id: 1, socket: a as unknown as Socket, clientAddress: '127.0.0.1', clientPort: 1, localAddress: '127.0.0.1', localPort: 2, acceptedAt: 0 };
}
const service = { name: 's', type: 't', logName: 'T', port: 0 };

function envWith(ops: OperatorDef<never>[]): Env {
  const operators = new Registry<OperatorDef<never>>('operator');
  for (const o of ops) operators.register(o.name, o);
  return { operators, logger: silentLogger() } as unknown as Env;
}

const failures: string[] = [];
const responder: Responder = {
  fail: (s, e) => void failures.push(`${s.request.text}:${e.code}`),
  connected: () => undefined,
};

/** Emits one request per entry of `texts`, each after the previous finished (keep-alive). */
const multi = defineOperator<{ texts: string[] }>({
  name: 'multi',
  kind: 'source',
  schema: {},
  create: (o) => (source) =>
    new Observable<Session>((sub) =>
      source.subscribe((first) => {
        void (async () => {
          for (const t of o.texts) {
            const s = new Session(first.connection, first.service, { ...emptyRequest('x'), text: t }, responder);
            if (t === 'garbage') s.error = proxyError('PRX_ERR_REQUEST_MALFORMED', 'garbage');
            sub.next(s);
            await s.finished;
          }
          sub.complete();
        })();
      }),
    ),
});
const seen: string[] = [];
const record = defineOperator<Record<string, never>>({
  name: 'record',
  schema: {},
  create: () =>
    Object.assign(
      sessionStep(async (s) => {
        await Promise.resolve();
        seen.push(`start:${s.request.text}`);
        if (s.request.text === 'deny') throw proxyError('PRX_ERR_ACL_DENIED', 0);
        seen.push(`end:${s.request.text}`);
        return s;
      }),
      { onFailure: (s: Session) => void seen.push(`logged-failure:${s.request.text}:${s.error?.legacyCode}`) },
    ),
});

describe('compilePipeline', () => {
  beforeEach(() => {
    seen.length = 0;
    failures.length = 0;
  });

  it('runs requests one at a time, in order, and closes each request', async () => {
    const env = envWith([multi, record]);
    const p = compilePipeline([{ multi: { texts: ['a', 'b', 'c'] } }, { record: {} }], env, { service: { name: 's', type: 't', config: {} } });
    const first = new Session(connection(), service, emptyRequest('x'));
    const out = await lastValueFrom(of(first).pipe(p.run, toArray()));
    expect(out.map((s) => s.request.text)).toEqual(['a', 'b', 'c']);
    expect(seen).toEqual(['start:a', 'end:a', 'start:b', 'end:b', 'start:c', 'end:c']);
    expect(out.every((s) => s.abort.signal.aborted)).toBe(true);
  });

  it('records a failure, lets the protocol answer, and ends the connection', async () => {
    const env = envWith([multi, record]);
    const p = compilePipeline([{ multi: { texts: ['a', 'deny', 'never'] } }, { record: {} }], env, { service: { name: 's', type: 't', config: {} } });
    const first = new Session(connection(), service, emptyRequest('x'));
    await expect(lastValueFrom(of(first).pipe(p.run))).rejects.toMatchObject({ code: 'PRX_ERR_ACL_DENIED' });
    expect(seen).toEqual(['start:a', 'end:a', 'start:deny', 'logged-failure:deny:1']);
    expect(failures).toEqual(['deny:PRX_ERR_ACL_DENIED']);
  });

  it('answers a request the source could not parse without running later steps', async () => {
    const env = envWith([multi, record]);
    const p = compilePipeline([{ multi: { texts: ['garbage'] } }, { record: {} }], env, { service: { name: 's', type: 't', config: {} } });
    await expect(lastValueFrom(of(new Session(connection(), service, emptyRequest('x'))).pipe(p.run))).rejects.toMatchObject({ code: 'PRX_ERR_REQUEST_MALFORMED' });
    expect(seen).toEqual(['logged-failure:garbage:511']);
    expect(failures).toEqual(['garbage:PRX_ERR_REQUEST_MALFORMED']);
  });

  it('rejects pipelines that do not start with a source, and misplaced sources', () => {
    const env = envWith([multi, record]);
    const ctx = { service: { name: 's', type: 't', config: {} } };
    expect(() => compilePipeline([{ record: {} }], env, ctx)).toThrow(expect.objectContaining({ code: 'PRX_ERR_PIPELINE_SHAPE' }) as Error);
    expect(() => compilePipeline([{ multi: { texts: [] } }, { multi: { texts: [] } }], env, ctx)).toThrow(expect.objectContaining({ code: 'PRX_ERR_PIPELINE_SHAPE' }) as Error);
    expect(() => compilePipeline([{ nosuch: {} }], env, ctx)).toThrow(expect.objectContaining({ code: 'PRX_ERR_UNKNOWN_NAME' }) as Error);
    expect(() => compilePipeline([{ a: {}, b: {} }], env, ctx)).toThrow(expect.objectContaining({ code: 'PRX_ERR_PIPELINE_SHAPE' }) as Error);
  });
});

describe('sessionStep', () => {
  const step = sessionStep((s) => {
    if (s.request.text === 'boom') throw new TypeError('boom');
    return s;
  });
  const mk = (t: string): Session => new Session(connection(), service, { ...emptyRequest('x'), text: t });

  it('passes sessions through synchronously (marbles)', () => {
    const ts = new TestScheduler((a, e) => expect(a).toEqual(e));
    const a = mk('a');
    const b = mk('b');
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-|', { a, b });
      expectObservable(src.pipe(step)).toBe('-a-b-|', { a, b });
      expectSubscriptions(src.subscriptions).toBe('^----!');
    });
  });

  it('turns a throw into a ProxyError on the stream (marbles)', () => {
    const ts = new TestScheduler((a, e) => expect(a).toEqual(e));
    const boom = mk('boom');
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold('-x-|', { x: boom }).pipe(step)).toBe('-#', undefined, expect.objectContaining({ code: 'PRX_ERR_INTERNAL' }));
    });
  });

  it('aborts a pending async step when the connection is unsubscribed (early disposal)', () => {
    let signal: AbortSignal | null = null;
    const hang = defineOperator<Record<string, never>>({
      name: 'hang',
      schema: {},
      create: () =>
        sessionStep((_s, sig) => {
          signal = sig;
          return new Promise<Session>(() => undefined);
        }),
    });
    const env = envWith([multi, hang]);
    const p = compilePipeline([{ multi: { texts: ['a'] } }, { hang: {} }], env, { service: { name: 's', type: 't', config: {} } });
    const first = new Session(connection(), service, emptyRequest('x'));
    const sub = of(first).pipe(p.run).subscribe();
    expect(signal).not.toBeNull();
    expect(signal!.aborted).toBe(false);
    sub.unsubscribe();
    expect(signal!.aborted).toBe(true);
  });
});
