/** Built-in auth methods by name (plugins add theirs to env.authMethods). */
import type { MethodFactory } from '../types';
import { iponly, none, strong, useronly } from './builtin';
import { cache, cacheacl } from './cache';
import { dnsname } from './dnsname';
import { radius } from './radius';

export const BUILTIN_METHODS: Readonly<Record<string, MethodFactory>> = Object.freeze({
  none,
  iponly,
  useronly,
  strong,
  cache,
  cacheacl,
  dnsname,
  radius,
});

export { checkPassword } from './builtin';
export { CACHE_METHODS, cacheStore, aclIdentity, cacheRequest, authCacheSettings, envAuthCache } from './cache';
export type { CacheStore } from './cache';
export { DNSNAME_LOOKUPS_SYMBOL } from './dnsname';
export { RADIUS_CLIENT_SYMBOL } from './radius';
