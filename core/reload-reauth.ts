/**
 * reloadReauth (3proxy's default "force" mode): after a reload, live sessions are checked again
 * against the NEW users and ACL of the service with the same name; a session that would now be
 * refused is cut. Sessions of removed services, and `auth: none` sessions (no ACL at all), keep
 * running, as 3proxy's do.
 */
import type { Runtime } from './runtime';
import type { Session } from './session';
import type { ServiceRuntime } from './service';
import { aclRequest, serviceAcl } from '../operators/authorize/service-acl';

/** Cuts the old runtime's live sessions that the new config refuses; returns how many. */
export function reauthorize(old: Runtime, next: Runtime): number {
  if (next.env.config['reloadReauth'] === false) return 0;
  let cut = 0;
  for (const o of old.services) {
    const n = next.services.find((s) => s.name === o.name);
    if (n === undefined) continue;
    for (const live of [...o.live]) {
      // `current` only moves when a request completes; `latest` is the one being relayed now.
      const s = live.connection.latest ?? live.current;
      if (s === null || s.authMethod === null || s.authMethod === 'none') continue;
      if (allowed(s, n, next)) continue;
      n.logger.info({ client: `${s.connection.clientAddress}:${s.connection.clientPort}`, user: s.user }, 'reload: live session refused by the new configuration, closed');
      live.subscription.unsubscribe();
      cut++;
    }
  }
  return cut;
}

function allowed(s: Session, n: ServiceRuntime, next: Runtime): boolean {
  // Only password methods can be re-verified from what the session holds.
  if (s.authMethod === 'strong' && s.user !== null) {
    if (s.password === null || next.env.users.verify(s.user, s.password) !== 'ok') return false;
  }
  const acl = serviceAcl({ name: n.name, type: n.config.type, config: n.config });
  const d = acl.evaluate(aclRequest(s, next.env.clock.now()));
  return d.action === 'allow' || d.action === 'redirect';
}
