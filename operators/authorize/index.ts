/**
 * authorize: the ACL walk (3proxy checkACL), first match wins.
 *
 *   decision = the one authenticate already made (iponly, strong, ...) or a walk now
 *   allow     -> session.aclRule, nolog; parents (allow+parent / redirect) -> session.parents;
 *                the rule's egress pool (beyond 3proxy) -> session.state (connect picks from it)
 *   deny      -> PRX_ERR_ACL_DENIED (3proxy 1: HTTP 403, SOCKS 0x02)
 *   no match  -> PRX_ERR_ACL_NO_MATCH (3proxy 3: HTTP 407, so browsers ask again)
 *   auth none -> no ACL at all (3proxy: `auth none` ignores allow/deny/parent)
 *   a host target is resolved first when the ACL has address targets (target-address.ts)
 */
import { defineOperator, sessionStep } from '../../core/operator';
import { proxyError } from '../../core/errors';
import type { AclDecision } from '../../core/acl';
import { evaluateAcl, serviceAcl, DECISION_KEY } from './service-acl';
import { aclNeedsTargetAddress, targetResolver } from './target-address';
import type { Session } from '../../core/session';
import { EGRESS_KEY, egressPool, type EgressSpec } from '../../core/net/egress';

/** Applies an ACL decision to the session, or throws the refusal. */
export function applyDecision(session: Session, d: AclDecision): Session {
  if (d.action === 'deny') throw proxyError('PRX_ERR_ACL_DENIED', d.index);
  if (d.action === 'none') throw proxyError('PRX_ERR_ACL_NO_MATCH');
  session.aclRule = d.index;
  session.nolog = d.nolog;
  if (d.rule !== null) {
    if (d.rule.parents.length > 0) session.parents = d.rule.parents;
    const egress = d.rule.spec.egress as EgressSpec | undefined;
    if (egress !== undefined) session.state.set(EGRESS_KEY, egressPool(egress, `/acl/${d.index}/egress`));
  }
  return session;
}

export const authorize = defineOperator<Record<string, never>>({
  name: 'authorize',
  schema: {
    $id: 'rx3proxy:operator/authorize',
    type: 'object',
    description: "Checks the request against the service's acl (first match wins; parents chosen here).",
    additionalProperties: false,
    properties: {},
  },
  create(_options, env, ctx) {
    const acl = serviceAcl(ctx.service);
    // Compiled (and checked) at load, not on a rule's first match.
    acl.rules.forEach((r, i) => r.spec.egress !== undefined && egressPool(r.spec.egress as EgressSpec, `/services/${ctx.service.name}/acl/${i}/egress`));
    const resolveTarget = targetResolver(acl, env, ctx.service);
    // No address targets: the walk is synchronous (no promise, no AbortController per request).
    const needsAddress = aclNeedsTargetAddress(acl);
    const walk = (session: Session): Session => applyDecision(session, evaluateAcl(acl, session, env.clock.now()));
    return sessionStep((session) => {
      if (session.authMethod === 'none') return session;
      const made = session.state.get(DECISION_KEY) as AclDecision | undefined;
      if (made !== undefined) return applyDecision(session, made);
      if (!needsAddress) return walk(session);
      return resolveTarget(session, session.abort.signal).then(() => walk(session));
    });
  },
});
