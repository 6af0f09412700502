/**
 * ACL matching with 3proxy's semantics: `compileMatch` for one entry's fields (also used by
 * the bandwidth, counter and connlim lists), `compileAcl` for a service's allow/deny/redirect
 * walk. Everything is compiled at config load; the per-request path only compares numbers
 * and strings.
 */
export { compileAcl, needsUser } from './acl';
export type { Acl, AclDecision, AclEvaluateOptions, AclRuleSpec, CompiledRule, RedirectSpec, RuleKind } from './acl';
export { compileMatch, firstMatch, matchesAny, namesUsers, walkMatches } from './match';
export { MatchFields, compileFields, compileOperations, compilePorts } from './fields';
export { OPERATION_BITS } from './prepared';
export type { AclRequest, MatchSpec, Matcher } from './match';
export { IpList, parseIp, parseIpToken } from './address';
export type { IpAddress, IpRange } from './address';
export { NamePatterns, compileHostPatterns, compileUserPatterns, normalizeHost } from './host-pattern';
export { compileTimes, compileWeekdays, secondsOfDay } from './time';
