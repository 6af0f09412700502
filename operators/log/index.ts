/**
 * log: writes one access record per finished request, success or failure (3proxy writes
 * one record per request at the end of the client thread).
 *
 *   next(session)          -> record (code 0) -> pass the session on
 *   onFailure(session)     -> record with session.error (called by the pipeline compiler,
 *                             before the protocol's responder answers the client)
 *
 * `nolog` ACL rules suppress the record. Where records go: the step's own `to`/`format`, else
 * the service's `accessLog`, else the root `accessLog`.
 */
import { tap, type Observable } from 'rxjs';
import { defineOperator, withDirectStep, type StepFunction } from '../../core/operator';
import type { Session } from '../../core/session';
import type { AccessLogSpec } from '../../core/env';
import { proxyError, type ProxyError } from '../../core/errors';
import { SYSLOG_TARGET_MESSAGE } from './writer';

export interface LogOptions {
  to?: string;
  format?: string;
}

export const DEFAULT_ACCESS_LOG: AccessLogSpec = { to: 'stdout', format: 'json' };

/** Where a service's records go: the step's own to/format, else the service's accessLog, else the root's. */
export function accessLogSpec(options: LogOptions, serviceConfig: Readonly<Record<string, unknown>>, rootConfig: Readonly<Record<string, unknown>>): AccessLogSpec {
  const serviceLog = (serviceConfig['accessLog'] ?? {}) as Partial<AccessLogSpec>;
  const rootLog = (rootConfig['accessLog'] ?? {}) as Partial<AccessLogSpec>;
  return {
    to: options.to ?? serviceLog.to ?? rootLog.to ?? DEFAULT_ACCESS_LOG.to,
    format: options.format ?? serviceLog.format ?? rootLog.format ?? DEFAULT_ACCESS_LOG.format,
  };
}

export const log = defineOperator<LogOptions>({
  name: 'log',
  schema: {
    $id: 'rx3proxy:operator/log',
    type: 'object',
    description: 'Writes one access-log record per request (success or failure).',
    additionalProperties: false,
    properties: {
      to: { type: 'string', description: 'stdout | stderr | none | a file path (may hold % date escapes). Default: the service accessLog, else the root accessLog. syslog: targets are refused (use stdout under journald or docker).' },
      format: { type: 'string', description: 'json, or a 3proxy logformat string ("L%d-%m-%Y %H:%M:%S %U %C:%c %R:%r %O %I %T").' },
    },
  },
  create(options, env, ctx): StepFunction {
    const serviceLog = (ctx.service.config['accessLog'] ?? {}) as Partial<AccessLogSpec>;
    const spec = accessLogSpec(options, ctx.service.config, env.config);
    // Checked while compiling, so `rx3proxy validate` (which opens no file) refuses it too.
    if (spec.to.startsWith('syslog:')) {
      const where = options.to !== undefined ? 'log.to' : serviceLog.to !== undefined ? 'service accessLog.to' : 'accessLog.to';
      throw proxyError('PRX_ERR_CONFIG_VALUE', `${where} "${spec.to}"`, SYSLOG_TARGET_MESSAGE);
    }
    const sink = env.accessLogs.sink(spec);
    const record = (s: Session): void => {
      if (!s.nolog) sink.write(s);
    };
    const step = (source: Observable<Session>): Observable<Session> => source.pipe(tap(record));
    const logger = env.logger.child({ service: ctx.service.name });
    // The access record is the refusal's log entry; the diagnostics log says it too, at info for
    // what clients and upstreams cause (a denied user is not an operator problem), warn for
    // config mistakes, error for our own faults.
    const onFailure = (s: Session, error: ProxyError): void => {
      record(s);
      const level = error.blame === 'internal' ? 'error' : error.blame === 'config' ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        { code: error.code, legacyCode: error.legacyCode, session: s.id, client: `${s.connection.clientAddress}:${s.connection.clientPort}`, user: s.user, target: `${s.request.host}:${s.request.port}` },
        error.message,
      );
    };
    const direct = (s: Session): Session => {
      record(s);
      return s;
    };
    return Object.assign(withDirectStep(step, direct), { onFailure });
  },
});
