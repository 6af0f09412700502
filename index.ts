/**
 * rx3proxy's public API, for embedding and for plugins:
 *   import { defineOperator, Runtime } from 'rx3proxy';
 */
export { defineOperator, sessionStep } from './core/operator';
export type { OperatorDef, OperatorContext, ServiceContext, StepFunction, JsonSchema } from './core/operator';
export { Session, OPERATIONS } from './core/session';
export type { Operation, RequestInfo, Connection, Responder, ServiceInfo } from './core/session';
export { ProxyError, proxyError, ERRORS } from './core/errors';
export type { ErrorCode } from './core/errors';
export { Runtime } from './core/runtime';
export type { Env } from './core/env';
export { definePlugin } from './core/plugin-api';
export type {
  PluginDef,
  PluginApi,
  PluginSymbols,
  PluginAuthDef,
  PluginAuthenticator,
  CommandDef,
  LogHookFn,
  SchedulePeriod,
} from './core/plugin-api';
export type { AccessRecord } from './operators/log/record';
