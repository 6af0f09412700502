/**
 * rx3proxy's public API, for embedding and for plugins:
 *   import { defineOperator, Runtime } from 'rx3proxy';
 */
export { defineOperator, sessionStep, withDirectStep } from './core/operator';
export type { OperatorDef, OperatorContext, ServiceContext, StepFunction, JsonSchema, DirectStepFn, StepCallback } from './core/operator';
export { Session, OPERATIONS } from './core/session';
export type { Operation, RequestInfo, Connection, Responder, ServiceInfo } from './core/session';
export { ProxyError, proxyError, ERRORS } from './core/errors';
export type { ErrorCode } from './core/errors';
export { Runtime } from './core/runtime';
export { disablePretenuring } from './core/v8-tuning';
export type { Env } from './core/env';
export { definePlugin } from './core/plugin-api';
export type {
  PluginDef,
  PluginApi,
  PluginSymbols,
  PluginAuthDef,
  PluginAuthenticator,
  CommandDef,
  LegacyContext,
  LegacyTranslator,
  LogHookFn,
  SchedulePeriod,
} from './core/plugin-api';
export type { AccessRecord } from './operators/log/record';
export { defineFilter, FilterResult, BUFFER_STAGES } from './core/filter-api';
export type { FilterDef, FilterBuffer, BufferStage, BufferFilterFn, ClientResult } from './core/filter-api';
export type { TrafficHookFn, BandwidthHookFn, HookScope } from './core/plugin-hooks';
export { compileMatch } from './core/acl';
export type { MatchSpec, AclRequest } from './core/acl/match';
export { aclRequest } from './operators/authorize/service-acl';
