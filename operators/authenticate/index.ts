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
import { defineOperator, sessionStep, UNUSED_SIGNAL } from '../../core/operator';
import type { Session } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import type { Acl } from '../../core/acl';
import { evaluateAcl, redirectOrigins, serviceAcl, DECISION_KEY } from '../authorize/service-acl';
import { aclNeedsTargetAddress, targetResolver } from '../authorize/target-address';
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
    walk: (s, hide = false) => evaluateAcl(acl, s, env.clock.now(), hide),
  };
}

function resolveMethod(name: string, ctx: MethodContext): Authenticator {
  const builtin = BUILTIN_METHODS[name];
  if (builtin !== undefined) return builtin(ctx);
  const def = ctx.env.authMethods.get(name);
  if (def === undefined) throw proxyError('PRX_ERR_UNKNOWN_NAME', 'auth method', `${name}" in service "${ctx.service.name}`);
  return def.create({}, ctx.env) as Authenticator;
}

/** After a local redirect, the redirected request's credentials count when this protocol gave none. */
function inheritCredentials(session: Session): void {
  if (session.user !== null) return;
  const origin = redirectOrigins.get(session.connection);
  if (origin === undefined || origin.user === null) return;
  session.user = origin.user;
  session.password = origin.password;
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
    // `auth none` never walks the ACL, so it needs no resolved target either; nor does an ACL
    // without address targets (the resolver would be a no-op).
    const resolveTarget = names.every((n) => n === 'none') || !aclNeedsTargetAddress(acl) ? null : targetResolver(acl, env, ctx.service);
    /** Methods that take no signal get none, so `auth none` / iponly make no AbortController. */
    const call = (m: Authenticator, session: Session): ProxyError | null | Promise<ProxyError | null> =>
      m.authenticate(session, m.authenticate.length >= 2 ? session.abort.signal : UNUSED_SIGNAL);
    const accept = (session: Session, m: Authenticator): Session => {
      session.authMethod = m.name;
      const d = m.authorize(session);
      if (d !== null) session.state.set(DECISION_KEY, d);
      store?.(session, m.name, d);
      return session;
    };
    const refuse = (session: Session, worst: ProxyError | null): never => {
      session.state.delete(DECISION_KEY);
      throw worst ?? proxyError('PRX_ERR_AUTH_REQUIRED');
    };
    /** The rest of the chain once a method answered with a promise (radius, plugins). */
    const runAsync = async (session: Session, start: number, worst: ProxyError | null, pending: Promise<ProxyError | null>): Promise<Session> => {
      for (let i = start; i < chain.length; i++) {
        const m = chain[i]!;
        let failure: ProxyError | null;
        if (i === start) failure = await pending;
        else {
          session.state.delete(DECISION_KEY);
          failure = await call(m, session);
        }
        if (failure === null) return accept(session, m);
        if (worst === null || failure.legacyCode > worst.legacyCode) worst = failure;
        if (worst.legacyCode >= 10) break;
      }
      return refuse(session, worst);
    };
    /** Synchronous while the methods answer synchronously (none, iponly, useronly, strong). */
    const runChain = (session: Session): Session | Promise<Session> => {
      let worst: ProxyError | null = null;
      for (let i = 0; i < chain.length; i++) {
        const m = chain[i]!;
        session.state.delete(DECISION_KEY);
        const failure = call(m, session);
        if (failure instanceof Promise) return runAsync(session, i, worst, failure);
        if (failure === null) return accept(session, m);
        if (worst === null || failure.legacyCode > worst.legacyCode) worst = failure;
        if (worst.legacyCode >= 10) break;
      }
      return refuse(session, worst);
    };
    return sessionStep((session) => {
      inheritCredentials(session);
      return resolveTarget === null ? runChain(session) : resolveTarget(session, session.abort.signal).then(() => runChain(session));
    });
  },
});
