/**
 * authenticate: the auth chain (3proxy `auth TYPE ...`), tried left to right.
 *
 *   for each method:
 *     authenticate fails -> remember the highest code, next method (stop at once at >= 10)
 *     authenticate ok    -> its authorize step decides, final (no fall-through after it)
 *   all failed           -> the highest failure
 *
 *   none      always ok; no ACL at all
 *   iponly    the ACL walk with the user hidden (`-`); 1 or 3 fall through (3proxy default)
 *   useronly  ok if a user name was given (no password check), then the ACL
 *   strong    user and password checked against users:, then the ACL
 *
 * Methods registered by plugins or the auth issue (cache, dnsname, radius, ...) come from
 * env.authMethods and follow the same contract.
 */
import { defineOperator, sessionStep } from '../../core/operator';
import { ProxyError, proxyError, type ErrorCode } from '../../core/errors';
import type { Session } from '../../core/session';
import type { Env, UserStore } from '../../core/env';
import type { Acl, AclDecision } from '../../core/acl';
import { aclRequest, serviceAcl, DECISION_KEY } from '../authorize/service-acl';

/** A method's two steps; `authenticate` resolves null on success or the failure. */
export interface Authenticator {
  readonly name: string;
  authenticate(session: Session, signal: AbortSignal): ProxyError | null | Promise<ProxyError | null>;
  /** The decision after a successful authenticate; null = allow without an ACL (`none`). */
  authorize(session: Session): AclDecision | null;
}

export const BUILTIN_METHODS = ['none', 'iponly', 'useronly', 'strong'] as const;

const BAD_PASSWORD: Record<string, ErrorCode> = {
  'bad-password:CL': 'PRX_ERR_AUTH_BAD_PASSWORD',
  'bad-password:CR': 'PRX_ERR_AUTH_BAD_CRYPT',
  'bad-password:NT': 'PRX_ERR_AUTH_BAD_NT',
};

/** Checks credentials; returns the 3proxy failure (4 no user, 5 unknown, 6/7/8 wrong password) or null. */
export function checkPassword(users: UserStore, session: Session): ProxyError | null {
  if (session.user === null || session.password === null) return proxyError('PRX_ERR_AUTH_REQUIRED');
  const outcome = users.verify(session.user, session.password);
  if (outcome === 'ok') return null;
  if (outcome === 'unknown-user') return proxyError('PRX_ERR_AUTH_UNKNOWN_USER', session.user);
  return proxyError(BAD_PASSWORD[outcome] ?? 'PRX_ERR_AUTH_BAD_PASSWORD', session.user);
}

function builtin(name: string, env: Env, acl: Acl): Authenticator | undefined {
  const walk = (s: Session, hide = false): AclDecision => acl.evaluate(aclRequest(s, env.clock.now(), hide));
  switch (name) {
    case 'none':
      return { name, authenticate: () => null, authorize: () => null };
    case 'iponly': {
      return {
        name,
        authenticate(s) {
          const d = walk(s, true);
          s.state.set(DECISION_KEY, d);
          if (d.action === 'deny') return proxyError('PRX_ERR_ACL_DENIED', d.index);
          if (d.action === 'none') return proxyError('PRX_ERR_ACL_NO_MATCH');
          return null;
        },
        authorize: (s) => s.state.get(DECISION_KEY) as AclDecision,
      };
    }
    case 'useronly':
      return {
        name,
        authenticate: (s) => (s.user === null ? proxyError('PRX_ERR_AUTH_REQUIRED') : null),
        authorize: (s) => walk(s),
      };
    case 'strong':
      return { name, authenticate: (s) => checkPassword(env.users, s), authorize: (s) => walk(s) };
    default:
      return undefined;
  }
}

function resolveMethod(name: string, env: Env, acl: Acl, ctxName: string): Authenticator {
  const b = builtin(name, env, acl);
  if (b !== undefined) return b;
  const def = env.authMethods.get(name);
  if (def === undefined) throw proxyError('PRX_ERR_UNKNOWN_NAME', 'auth method', `${name}" in service "${ctxName}`);
  return def.create({}, env) as Authenticator;
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
    const names = options.methods ?? (ctx.service.config['auth'] as string[] | undefined) ?? ['iponly'];
    const chain = names.map((n) => resolveMethod(n, env, acl, ctx.service.name));
    return sessionStep(async (session, signal) => {
      let worst: ProxyError | null = null;
      for (const m of chain) {
        session.state.delete(DECISION_KEY);
        const failure = await m.authenticate(session, signal);
        if (failure === null) {
          session.authMethod = m.name;
          const d = m.authorize(session);
          if (d !== null) session.state.set(DECISION_KEY, d);
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
