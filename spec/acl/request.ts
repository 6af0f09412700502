/** Builds AclRequest values for the ACL specs: defaults plus the fields a case cares about. */
import type { AclRequest } from '../../core/acl';

/** A Monday (2024-01-08), 12:00:00 local time. */
export const MONDAY_NOON = new Date(2024, 0, 8, 12, 0, 0);

export function req(over: Partial<AclRequest> = {}): AclRequest {
  return {
    user: null,
    clientAddress: '127.0.0.1',
    targetHost: 'example.com',
    targetAddress: '93.184.216.34',
    port: 80,
    operation: 'CONNECT',
    now: MONDAY_NOON,
    ...over,
  };
}

/** The error `fn` throws (fails the test when it does not throw). */
export function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a throw');
}
