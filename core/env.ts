/**
 * Env: the shared services an operator's `create(options, env)` may use. One Env per loaded
 * config (a reload builds a new one; long-lived pieces such as caches and counters are carried
 * over by the runtime). Operators keep what they need from it at create time.
 */
import type { Logger } from './logger';
import type { Registry } from './registry';
import type { OperatorDef } from './operator';
import type { Resolver } from './net/resolver';
import type { Dialer } from './net/dialer';
import type { Session } from './session';

/** Wall clock, injectable so ACL time windows, rotation and counters can be tested. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** Writes access records; `operators/log` implements it. */
export interface AccessLogSink {
  write(session: Session): void;
  flush(): void;
  reopen(): void;
  close(): Promise<void>;
}

export interface AccessLogSpec {
  readonly to: string;
  readonly format: string;
}

/** Access-log writers are shared by target (two services logging to one file share one fd). */
export interface AccessLogHub {
  sink(spec: AccessLogSpec): AccessLogSink;
  reopenAll(): void;
  closeAll(): Promise<void>;
}

/** An authentication method (3proxy `auth TYPE`); the auth issue fills the registry. */
export interface AuthMethodDef {
  readonly name: string;
  readonly schema?: Record<string, unknown>;
  /** Returns a per-service authenticator. */
  create(options: Record<string, unknown>, env: Env): unknown;
}

/** A built-in or plugin service template (services/*.yaml). */
export interface ServiceTemplate {
  readonly type: string;
  /** 3proxy's %N name. */
  readonly logName: string;
  readonly defaultPort: number;
  /** The pipeline steps, as YAML. */
  readonly pipeline: readonly Record<string, unknown>[];
  /** JSON Schema of the type's `options:`. */
  readonly optionsSchema: Record<string, unknown>;
  /** Transport: most services are TCP; udppm and dnspr listen on UDP. */
  readonly transport: 'tcp' | 'udp';
  /** Keys besides the common ones this type requires (`target` for tcppm). */
  readonly requires?: readonly string[];
  readonly description: string;
}

/** Result of a password check; the CL/CR/NT split gives 3proxy's codes 6/7/8. */
export type VerifyOutcome = 'ok' | 'unknown-user' | 'bad-password:CL' | 'bad-password:CR' | 'bad-password:NT';

/** The user table (`users:`, `usersFiles:`); the auth issue implements it. */
export interface UserStore {
  has(name: string): boolean;
  verify(name: string, password: string): VerifyOutcome;
}

export interface Env {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly operators: Registry<OperatorDef<never>>;
  readonly authMethods: Registry<AuthMethodDef>;
  readonly templates: Registry<ServiceTemplate>;
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  readonly accessLogs: AccessLogHub;
  readonly users: UserStore;
  /** The validated, frozen root config. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Values shared between plugins and components (3proxy pluginlink symbols). */
  readonly symbols: Map<string, unknown>;
}
