/**
 * limits: 3proxy's alwaysauth checks after the ACL, before connecting.
 *
 *   connlim over its limit        -> PRX_ERR_CONNLIM_EXCEEDED (3proxy 10)
 *   bandwidth rules               -> buckets on session.limits (mapSockets throttles)
 *   a selected counter at its cap -> PRX_ERR_QUOTA_EXCEEDED (3proxy 10)
 *   root logDump set              -> a poll timer per session writes interim access records
 *
 * Whatever was taken is given back when the session ends (`session.finished`), where the
 * fast path's byte totals are also added to the counters.
 */
import { defineOperator, sessionStep, type OperatorContext } from '../../core/operator';
import type { AccessLogSink, Env } from '../../core/env';
import type { StepSpec } from '../../core/pipeline';
import { LIMITS_SYMBOL, SessionLimits, type Limits, type Pacer } from '../../core/limits';
import { hooksOf, type BandwidthHookFn } from '../../core/plugin-hooks';
import type { Session } from '../../core/session';
import { logDumpConfig, watchLogDump } from '../../core/limits/logdump';
import { aclRequest } from '../authorize/service-acl';
import { accessLogSpec } from '../log';

export const limits = defineOperator<Record<string, never>>({
  name: 'limits',
  schema: {
    $id: 'rx3proxy:operator/limits',
    type: 'object',
    description: 'Applies the root connectionLimits, bandwidth, counters and logDump sections to the request (3proxy connlim, bandlim, counters, logdump).',
    additionalProperties: false,
    properties: {},
  },
  create(_options, env, ctx) {
    const shared = env.symbols.get(LIMITS_SYMBOL) as Limits | undefined;
    const dump = logDumpConfig(env.config['logDump']);
    const dumpSink = dump === null ? null : serviceLogSink(env, ctx);
    // Plugin bandwidth hooks (3proxy bandlimfunc) for this service, known once at create time.
    const paced = (hooksOf(env)?.bandwidthFor(ctx.service.name) ?? []).map((h) => h.fn);
    return sessionStep((session) => {
      if (paced.length > 0) hookPacers(session, paced, shared, env.clock);
      if (dumpSink !== null) {
        watchLogDump(session, dump!, (view) => {
          if (!view.nolog) dumpSink.write(view);
        });
      }
      if (paced.length > 0 || shared === undefined || shared.empty) return session;
      const found = shared.forRequest(aclRequest(session, env.clock.now()));
      if (found === null) return session;
      session.limits = found;
      void session.finished.then(() => found.end(session.bytesIn, session.bytesOut));
      return session;
    });
  },
});

/**
 * Limits with the hooks' pacers added: the rule limits when some apply, else neutral ones. The
 * hook gets (session, bytesIn, 0) for server-to-client chunks, (session, 0, bytesOut) the other way.
 */
function hookPacers(session: Session, fns: readonly BandwidthHookFn[], shared: Limits | undefined, clock: { now(): number }): void {
  const inP: Pacer[] = fns.map((fn) => ({ take: (n: number) => fn(session, n, 0) }));
  const outP: Pacer[] = fns.map((fn) => ({ take: (n: number) => fn(session, 0, n) }));
  const found = shared === undefined || shared.empty ? null : shared.forRequest(aclRequest(session, clock.now()));
  const limits = found === null ? new SessionLimits(inP, outP, [], [], () => undefined, clock) : found.withPacers(inP, outP);
  session.limits = limits;
  void session.finished.then(() => limits.end(session.bytesIn, session.bytesOut));
}

/**
 * The sink the service's `log` step writes to (the same object: AccessLogs caches sinks by
 * spec), resolved as that step does: its own to/format, else the service's accessLog, else
 * the root one. Null when the pipeline has no log step.
 */
function serviceLogSink(env: Env, ctx: OperatorContext): AccessLogSink | null {
  const cfg = ctx.service.config;
  const steps = (cfg['pipeline'] as readonly StepSpec[] | undefined) ?? env.templates.require(ctx.service.type).pipeline;
  const step = steps.find((s) => Object.keys(s).length === 1 && 'log' in s);
  if (step === undefined) return null;
  const spec = accessLogSpec(step['log'] ?? {}, cfg, env.config);
  if (spec.to.startsWith('syslog:')) return null;
  return env.accessLogs.sink(spec);
}
