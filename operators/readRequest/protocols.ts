/**
 * Protocol readers behind `readRequest{protocol: X}`: one per protocol (gost's
 * file-per-feature). A reader turns the connection's first Session into the request
 * Sessions read from it. Plugins may register more.
 */
import type { Observable } from 'rxjs';
import type { Session } from '../../core/session';
import type { Env } from '../../core/env';
import type { OperatorContext } from '../../core/operator';
import { Registry } from '../../core/registry';

export interface ReadRequestOptions {
  readonly protocol: string;
  /** Handshake timeout in ms (already parsed). */
  readonly handshakeTimeoutMs: number;
  readonly [key: string]: unknown;
}

export interface ProtocolReader {
  readonly name: string;
  /** Runs once per service; returns the per-connection reader. */
  create(options: ReadRequestOptions, env: Env, ctx: OperatorContext): ConnectionReader;
}

/**
 * The per-connection reader. One that always makes exactly one request at once, without reading
 * (the port mappers), may also say so with `single`: the pipeline then runs that request directly.
 */
export type ConnectionReader = ((connection: Session) => Observable<Session>) & { single?: (connection: Session) => Session };

export const protocolReaders = new Registry<ProtocolReader>('protocol');
