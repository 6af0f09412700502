/**
 * The contract every auth method (built-in or plugin) follows: 3proxy's `struct auth`
 * pair of an authenticate and an authorize function.
 */
import type { ProxyError } from '../../core/errors';
import type { Session } from '../../core/session';
import type { Env } from '../../core/env';
import type { Acl, AclDecision } from '../../core/acl';
import type { ServiceContext } from '../../core/operator';

/** A method's two steps; `authenticate` resolves null on success or the failure. */
export interface Authenticator {
  readonly name: string;
  authenticate(session: Session, signal: AbortSignal): ProxyError | null | Promise<ProxyError | null>;
  /** The decision after a successful authenticate; null = allow without an ACL (`none`). */
  authorize(session: Session): AclDecision | null;
}

/** What a built-in method is made from, once per service. */
export interface MethodContext {
  readonly env: Env;
  readonly acl: Acl;
  readonly service: ServiceContext;
  /** The service ACL walk at the env clock's now; `hideUser` = iponly's walk (user `-`). */
  walk(session: Session, hideUser?: boolean): AclDecision;
}

export type MethodFactory = (ctx: MethodContext) => Authenticator;
