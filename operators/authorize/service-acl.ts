/**
 * The service's compiled ACL, shared by `authenticate` (iponly walks it) and `authorize`.
 * Compiled once per service config object (create time), never per request.
 */
import { compileAcl, type Acl, type AclRequest, type AclRuleSpec } from '../../core/acl';
import type { ServiceContext } from '../../core/operator';
import type { Session } from '../../core/session';

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
