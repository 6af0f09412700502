/**
 * Authentication helpers shared by the `authenticate` methods: the auth cache (3proxy
 * `authcache`) and the DNS-name check (`auth dnsname`).
 */
export { AuthCache, AUTH_CACHE_DEFAULTS, AUTH_CACHE_SYMBOL, resetSharedAuthCache, sharedAuthCache } from './auth-cache';
export type { AuthCacheEntry, AuthCacheKey, AuthCacheLookup, AuthCacheRequest, AuthCacheSettings } from './auth-cache';
export { lookupClientName, systemNameLookups, unmapAddress } from './dnsname';
export type { DnsNameResult, NameLookups } from './dnsname';
export { RadiusClient } from './radius';
export type { RadiusOutcome, RadiusRequest, RadiusServer, RadiusSettings, RadiusUsage } from './radius';
