/**
 * authenticate: the auth chain (3proxy `auth TYPE ...`, doauth), tried left to right.
 *
 *   (the target host is resolved first when the ACL has address targets)
 *   for each method:
 *     authenticate fails -> remember the highest code, next method (stop at once at >= 10)
 *     authenticate ok    -> its authorize step decides, final (no fall-through after it);
 *                           an allowing decision of a non-cache method is stored in the
 *                           auth cache when the cache is in use
 *   all failed           -> the highest failure
 *
 * Methods: methods/builtin.ts (none, iponly, useronly, strong), methods/cache.ts (cache,
 * cacheacl), methods/dnsname.ts, methods/radius.ts; plugins register theirs in env.authMethods with the same
 * contract (types.ts).
 */
import { defineOperator, sessionStep } from '../../core/operator';
import { proxyError, type ProxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import type { Acl } from '../../core/acl';
import { aclRequest, serviceAcl, DECISION_KEY } from '../authorize/service-acl';
import { targetResolver } from '../authorize/target-address';
import type { Authenticator, MethodContext } from './types';
import { BUILTIN_METHODS, cacheStore } from './methods';
import type { ServiceContext } from '../../core/operator';

export type { Authenticator, MethodContext, MethodFactory } from './types';
export { checkPassword, DNSNAME_LOOKUPS_SYMBOL, RADIUS_CLIENT_SYMBOL } from './methods';
export { configWarnings } from './warnings';
export type { ConfigWarning } from './warnings';

/** Names of the built-in methods. */
export const BUILTIN_METHOD_NAMES: readonly string[] = Object.keys(BUILTIN_METHODS);

function methodContext(env: Env, acl: Acl, service: ServiceContext): MethodContext {
  return {
    env,
    acl,
    service,
    walk: (s, hide = false) => acl.evaluate(aclRequest(s, env.clock.now(), hide)),
  };
}

function resolveMethod(name: string, ctx: MethodContext): Authenticator {
  const builtin = BUILTIN_METHODS[name];
  if (builtin !== undefined) return builtin(ctx);
  const def = ctx.env.authMethods.get(name);
  if (def === undefined) throw proxyError('PRX_ERR_UNKNOWN_NAME', 'auth method', `${name}" in service "${ctx.service.name}`);
  return def.create({}, ctx.env) as Authenticator;
}

export interface AuthenticateOptions {
  methods?: string[];
}

export const authenticate = defineOperator<AuthenticateOptions>({
  name: 'authenticate',
  schema: {
    $id: 'rx3proxy:operator/authenticate',
    type: 'object',
    description: 'Runs the auth chain with 3proxy fall-through rules.',
    additionalProperties: false,
    properties: {
      methods: {
        type: 'array',
        items: { type: 'string' },
        description: "Auth methods in order (default: the service's auth:, else [iponly]).",
      },
    },
  },
  create(options, env, ctx) {
    const acl = serviceAcl(ctx.service);
    const mctx = methodContext(env, acl, ctx.service);
    const names = options.methods ?? (ctx.service.config['auth'] as string[] | undefined) ?? ['iponly'];
    const chain = names.map((n) => resolveMethod(n, mctx));
    const store = cacheStore(mctx);
    // `auth none` never walks the ACL, so it needs no resolved target either.
    const resolveTarget = names.every((n) => n === 'none') ? null : targetResolver(acl, env, ctx.service);
    return sessionStep(async (session, signal) => {
      if (resolveTarget !== null) await resolveTarget(session, signal);
      let worst: ProxyError | null = null;
      for (const m of chain) {
        session.state.delete(DECISION_KEY);
        const failure = await m.authenticate(session, signal);
        if (failure === null) {
          session.authMethod = m.name;
          const d = m.authorize(session);
          if (d !== null) session.state.set(DECISION_KEY, d);
          store?.(session, m.name, d);
          return session;
        }
        if (worst === null || failure.legacyCode > worst.legacyCode) worst = failure;
        if (worst.legacyCode >= 10) break;
      }
      session.state.delete(DECISION_KEY);
      throw worst ?? proxyError('PRX_ERR_AUTH_REQUIRED');
    });
  },
});
