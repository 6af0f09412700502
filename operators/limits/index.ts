/**
 * limits: 3proxy's alwaysauth checks after the ACL, before connecting.
 *
 *   connlim over its limit        -> PRX_ERR_CONNLIM_EXCEEDED (3proxy 10)
 *   bandwidth rules               -> buckets on session.limits (mapSockets throttles)
 *   a selected counter at its cap -> PRX_ERR_QUOTA_EXCEEDED (3proxy 10)
 *
 * Whatever was taken is given back when the session ends (`session.finished`), where the
 * fast path's byte totals are also added to the counters.
 */
import { defineOperator, sessionStep } from '../../core/operator';
import { LIMITS_SYMBOL, type Limits } from '../../core/limits';
import { aclRequest } from '../authorize/service-acl';

export const limits = defineOperator<Record<string, never>>({
  name: 'limits',
  schema: {
    $id: 'rx3proxy:operator/limits',
    type: 'object',
    description: 'Applies the root connectionLimits, bandwidth and counters sections to the request (3proxy connlim, bandlim, counters).',
    additionalProperties: false,
    properties: {},
  },
  create(_options, env) {
    const shared = env.symbols.get(LIMITS_SYMBOL) as Limits | undefined;
    return sessionStep((session) => {
      if (shared === undefined || shared.empty) return session;
      const found = shared.forRequest(aclRequest(session, env.clock.now()));
      if (found === null) return session;
      session.limits = found;
      void session.finished.then(() => found.end(session.bytesIn, session.bytesOut));
      return session;
    });
  },
});
