/**
 * Unit harness for the auth chain: an Env with stubs, a Session without sockets, and
 * `runAuth` that pipes one session through `authenticate` then `authorize`.
 */
import { lastValueFrom, of } from 'rxjs';
import type { Socket } from 'node:net';
import { Registry } from '../../core/registry';
import { silentLogger } from '../../core/logger';
import { UserTable } from '../../core/users';
import { Session, type Operation } from '../../core/session';
import type { Clock, Env } from '../../core/env';
import type { Resolver } from '../../core/net/resolver';
import type { Dialer } from '../../core/net/dialer';
import { authenticate } from '../../operators/authenticate';
import { authorize } from '../../operators/authorize';
import type { ProxyError } from '../../core/errors';

/** A Monday (2024-01-08), 12:00:00 local time. */
export const MONDAY_NOON = new Date(2024, 0, 8, 12, 0, 0).getTime();

export class FakeClock implements Clock {
  constructor(public t = MONDAY_NOON) {}
  now(): number {
    return this.t;
  }
}

export interface EnvOptions {
  users?: Record<string, string>;
  config?: Record<string, unknown>;
  clock?: Clock;
  symbols?: [string, unknown][];
  resolver?: Resolver;
}

export function makeEnv(o: EnvOptions = {}): Env {
  const noResolver: Resolver = { resolve: () => Promise.reject(new Error('no resolver in this test')) };
  return {
    logger: silentLogger(),
    clock: o.clock ?? new FakeClock(),
    operators: new Registry('operator'),
    authMethods: new Registry('auth method'),
    templates: new Registry('template'),
    resolver: o.resolver ?? noResolver,
    dialer: {} as Dialer,
    accessLogs: {} as Env['accessLogs'],
    users: UserTable.fromMap(o.users ?? {}),
    config: o.config ?? {},
    symbols: new Map(o.symbols ?? []),
  };
}

export interface SessionOptions {
  user?: string;
  password?: string;
  client?: string;
  host?: string;
  port?: number;
  address?: string | null;
  operation?: Operation;
}

export function makeSession(o: SessionOptions = {}): Session {
  const connection = {
    id: 1,
    socket: null as unknown as Socket,
    clientAddress: o.client ?? '10.0.0.1',
    clientPort: 40000,
    localAddress: '127.0.0.1',
    localPort: 3128,
    acceptedAt: 0,
  };
  const s = new Session(
    connection,
    { name: 'svc', type: 'proxy', logName: 'PROXY', port: 3128 },
    {
      protocol: 'http',
      operation: o.operation ?? 'CONNECT',
      host: o.host ?? 'example.com',
      port: o.port ?? 443,
      address: o.address === undefined ? null : o.address,
      text: '',
      method: '',
      url: '',
    },
  );
  s.user = o.user ?? null;
  s.password = o.password ?? null;
  return s;
}

export interface Outcome {
  readonly session: Session;
  /** null when allowed. */
  readonly error: ProxyError | null;
}

/** A compiled service: authenticate + authorize created once, run per session. */
export function service(config: Record<string, unknown>, env: Env): (s: Session) => Promise<Outcome> {
  const ctx = { service: { name: 'svc', type: 'proxy', config } };
  const a = authenticate.create({}, env, ctx);
  const z = authorize.create({}, env, ctx);
  return async (session) => {
    try {
      await lastValueFrom(of(session).pipe(a, z));
      return { session, error: null };
    } catch (err) {
      return { session, error: err as ProxyError };
    }
  };
}

/** `0` allowed, else the 3proxy code. */
export function code(o: Outcome): number {
  return o.error === null ? 0 : o.error.legacyCode;
}
