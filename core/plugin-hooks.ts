/**
 * The replaceable functions of 3proxy's pluginlink (conf->logfunc, trafcountfunc, bandlimfunc),
 * as hooks that apply to every service or only to the services a plugin names.
 *
 *   traffic(session)                       once per finished request, with its final byte counts
 *   bandwidth(session, bytesIn, bytesOut)  per relayed chunk -> delay in ms (3proxy BANDLIMFUNC);
 *                                          sessions of such a service leave the pipe() fast path
 *
 * Operators read the hooks for their service once, at create time: a service with no hook
 * does no per-request or per-chunk work for them.
 */
import type { Session } from './session';
import type { Env } from './env';

/** env.symbols key of the PluginHooks. */
export const HOOKS_SYMBOL = 'plugins.hooks';

export type TrafficHookFn = (session: Session) => void;
export type BandwidthHookFn = (session: Session, bytesIn: number, bytesOut: number) => number;

/** Which services a hook applies to; absent = all. */
export interface HookScope {
  readonly services?: readonly string[];
}

interface Scoped<F> {
  readonly fn: F;
  readonly services: ReadonlySet<string> | null;
  readonly plugin: string;
}

export class PluginHooks {
  readonly traffic: Scoped<TrafficHookFn>[] = [];
  readonly bandwidth: Scoped<BandwidthHookFn>[] = [];

  static scoped<F>(plugin: string, fn: F, scope: HookScope | undefined): Scoped<F> {
    return { fn, plugin, services: scope?.services === undefined ? null : new Set(scope.services) };
  }

  trafficFor(service: string): Scoped<TrafficHookFn>[] {
    return this.traffic.filter((h) => h.services === null || h.services.has(service));
  }

  bandwidthFor(service: string): Scoped<BandwidthHookFn>[] {
    return this.bandwidth.filter((h) => h.services === null || h.services.has(service));
  }
}

/** The runtime's hooks; undefined for hand-built Envs (unit tests) and configs without plugins. */
export function hooksOf(env: Env): PluginHooks | undefined {
  return (env.symbols as Env['symbols'] | undefined)?.get(HOOKS_SYMBOL) as PluginHooks | undefined;
}
