/**
 * The service's compiled ACL, shared by `authenticate` (iponly walks it) and `authorize`.
 * Compiled once per service config object (create time), never per request.
 */
import { compileAcl, type Acl, type AclDecision, type AclRequest, type AclRuleSpec } from '../../core/acl';
import type { ServiceContext } from '../../core/operator';
import type { Connection, Session } from '../../core/session';

/**
 * Connections handed to another handler by a local redirect (`0.0.0.0 0` parent): the
 * credentials and ACL weight of the request that was redirected. The handler's requests walk
 * the ACL a second time without local-redirect entries, with these credentials when the
 * handler's own protocol gave none (3proxy keeps them in the same clientparam).
 */
export interface RedirectOrigin {
  readonly user: string | null;
  readonly password: string | null;
  readonly weight: number;
}
export const redirectOrigins = new WeakMap<Connection, RedirectOrigin>();

/** The ACL walk for a session: the second pass after a local redirect skips redirect entries. */
export function evaluateAcl(acl: Acl, s: Session, now: number, hideUser = false): AclDecision {
  const origin = redirectOrigins.get(s.connection);
  const req = aclRequest(s, now, hideUser);
  return origin === undefined ? acl.evaluate(req) : acl.evaluate(req, { skipLocalRedirect: true, weight: origin.weight });
}

const cache = new WeakMap<object, Acl>();

export function serviceAcl(service: ServiceContext): Acl {
  let acl = cache.get(service.config);
  if (acl === undefined) {
    const rules = (service.config['acl'] ?? []) as AclRuleSpec[];
    acl = compileAcl(rules, '/acl');
    cache.set(service.config, acl);
  }
  return acl;
}

/** The ACL's view of a session; `hideUser` is iponly's walk (the user counts as `-`). */
export function aclRequest(s: Session, now: number, hideUser = false): AclRequest {
  const r = s.request;
  return {
    user: hideUser ? null : s.user,
    clientAddress: s.connection.clientAddress,
    targetHost: r.host,
    targetAddress: r.address,
    port: r.port,
    operation: r.operation,
    now: new Date(now),
  };
}

/** Key under which authenticate leaves the ACL decision it already made (iponly, strong...). */
export const DECISION_KEY = 'acl.decision';
