/**
 * 3proxy's own methods (auth.c):
 *
 *   none      always ok; no ACL at all
 *   iponly    the ACL walk with the user hidden (`-`); 1 or 3 fall through (3proxy default)
 *   useronly  ok if a user name was given (no password check), then the ACL
 *   strong    user and password checked against users:, then the ACL
 */
import { proxyError, type ErrorCode, type ProxyError } from '../../../core/errors';
import type { Session } from '../../../core/session';
import type { UserStore } from '../../../core/env';
import { DECISION_KEY } from '../../authorize/service-acl';
import type { AclDecision } from '../../../core/acl';
import type { MethodFactory } from '../types';

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

export const none: MethodFactory = () => ({ name: 'none', authenticate: () => null, authorize: () => null });

export const iponly: MethodFactory = (ctx) => ({
  name: 'iponly',
  authenticate(s) {
    const d = ctx.walk(s, true);
    s.state.set(DECISION_KEY, d);
    if (d.action === 'deny') return proxyError('PRX_ERR_ACL_DENIED', d.index);
    if (d.action === 'none') return proxyError('PRX_ERR_ACL_NO_MATCH');
    return null;
  },
  authorize: (s) => s.state.get(DECISION_KEY) as AclDecision,
});

export const useronly: MethodFactory = (ctx) => ({
  name: 'useronly',
  authenticate: (s) => (s.user === null ? proxyError('PRX_ERR_AUTH_REQUIRED') : null),
  authorize: (s) => ctx.walk(s),
});

export const strong: MethodFactory = (ctx) => ({
  name: 'strong',
  authenticate: (s) => checkPassword(ctx.env.users, s),
  authorize: (s) => ctx.walk(s),
});
