/**
 * "A target named by host is matched by name and by resolved address" (3proxy resolves the
 * requested host while parsing, so `param->req` holds an address before the ACL walk).
 *
 * Only when the service ACL has address entries in some `targets:` (decided once, at create
 * time) and the request names a host but carries no address, the host is resolved with the
 * service's family policy and the first address is kept on `request.address`, where the
 * connect step finds it too. A failed lookup leaves the address null: name patterns still
 * match, address entries do not, and connect reports the DNS error if the ACL lets it through.
 */
import { isIP } from 'node:net';
import type { Acl } from '../../core/acl';
import type { Env } from '../../core/env';
import type { ServiceContext } from '../../core/operator';
import type { Session } from '../../core/session';
import type { FamilyPolicy } from '../../core/net/resolver';

export type TargetResolver = (session: Session, signal: AbortSignal) => Promise<void>;

const noop: TargetResolver = () => Promise.resolve();

/** The ACL compares target addresses somewhere. */
export function aclNeedsTargetAddress(acl: Acl): boolean {
  return acl.rules.some((r) => r.fields.targetIps !== null);
}

/** Per service: resolves the target before the walk if the ACL needs it, else a no-op. */
export function targetResolver(acl: Acl, env: Env, service: ServiceContext): TargetResolver {
  if (!aclNeedsTargetAddress(acl)) return noop;
  const options = (service.config['options'] ?? {}) as { family?: FamilyPolicy };
  const family = options.family ?? '46';
  return async (session, signal) => {
    const r = session.request;
    if (r.address !== null || r.host === '') return;
    const host = r.host.startsWith('[') ? r.host.slice(1, -1) : r.host;
    if (isIP(host) !== 0) {
      r.address = host;
      return;
    }
    try {
      const found = await env.resolver.resolve(host, family, signal);
      if (found[0] !== undefined) r.address = found[0].address;
    } catch {
      // Left unresolved on purpose; see the header.
    }
  };
}
