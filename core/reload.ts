/**
 * Supervisor: live reload around Runtime (3proxy's main thread re-reading its config on SIGHUP
 * or on a change of a `monitor:`ed file).
 *
 *   reload() -> [serialized; requests made meanwhile coalesce into ONE follow-up reload]
 *            -> Runtime.loadFile (parse, load plugins, validate, compile; nothing listens yet)
 *               -- any problem: log every FILE:LINE:COL, keep the running config
 *            -> bind the ADDED services (all or nothing; failure keeps the running config)
 *            -> swap (synchronous): kept services adopt their old listening socket,
 *               the new Runtime becomes current
 *            -> retire the old Runtime: stop accepting, live sessions finish on the old
 *               pipeline, then its access logs close.
 *
 * A service is "kept" when its name and `listen:` text are unchanged, or (for fixed ports and
 * unix sockets) when only its name changed: the socket is handed over, never bound twice.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from './logger';
import { Runtime, type RuntimeOptions } from './runtime';
import type { ServiceRuntime } from './service';
import { formatProblem, toProxyError } from './errors';
import { parseDuration } from '../config/units';
import { reauthorize } from './reload-reauth';
import { RELOAD_CONTROL_SYMBOL } from './introspect';

/** Debounce for `monitor:` file events (editors write a file in several steps). */
export const MONITOR_DEBOUNCE_MS = 300;

export interface ReloadResult {
  /** True when the new config now serves new connections. */
  readonly ok: boolean;
  /** FILE:LINE:COL: /pointer: message lines (or one message) when not ok. */
  readonly problems: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

export interface SupervisorOptions extends RuntimeOptions {
  /** Called after each applied reload (the CLI rewrites its port file). */
  readonly onApplied?: (rt: Runtime, result: ReloadResult) => void;
}

export class Supervisor {
  private rt: Runtime;
  private readonly retiring = new Set<Runtime>();
  private readonly retired = new Set<Promise<void>>();
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<ReloadResult> | null = null;
  private queued: Promise<ReloadResult> | null = null;
  private stopped = false;
  /** Applied reloads so far (tests and admin pages). */
  generation = 0;
  /** Refused reloads so far (admin metrics). */
  failedReloads = 0;

  /**
   * Loads and compiles `file`; throws PRX_ERR_CONFIG_INVALID like Runtime.fromFile. Plugins
   * must set up synchronously here: Supervisor.load takes asynchronous ones (and their timeouts).
   */
  constructor(
    readonly file: string,
    private readonly opts: SupervisorOptions = {},
    first?: Runtime,
  ) {
    this.rt = first ?? Runtime.fromFile(file, opts);
    this.rt.env.symbols.set(RELOAD_CONTROL_SYMBOL, this);
  }

  /** Like the constructor, with the config's plugins loaded as Runtime.loadFile does (setup timeouts apply). */
  static async load(file: string, opts: SupervisorOptions = {}): Promise<Supervisor> {
    return new Supervisor(file, opts, await Runtime.loadFile(file, opts));
  }

  /** The Runtime serving new connections. */
  get runtime(): Runtime {
    return this.rt;
  }

  get logger(): Logger {
    return this.rt.logger;
  }

  /** Runtimes replaced by a reload whose sessions are still running. */
  get draining(): number {
    return this.retiring.size;
  }

  async start(): Promise<void> {
    await this.rt.start();
    this.watchMonitored();
  }

  /**
   * Reloads the config file. Serialized: while one reload runs, any number of further requests
   * share a single follow-up reload, so a storm ends with the file's latest content applied once.
   */
  reload(reason = 'request'): Promise<ReloadResult> {
    if (this.running === null) {
      this.running = this.apply(reason).finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = null;
      return this.reload(reason);
    });
    return this.queued;
  }

  private async apply(reason: string): Promise<ReloadResult> {
    const fail = (problems: string[]): ReloadResult => {
      this.failedReloads++;
      for (const p of problems) this.logger.error({ reason }, `reload failed: ${p}`);
      this.logger.error({ reason, problems: problems.length }, 'reload failed: the running configuration is kept');
      return { ok: false, problems, added: [], removed: [], kept: [] };
    };
    if (this.stopped) return fail(['stopping']);
    let next: Runtime;
    try {
      // The first logger is kept: re-opening log destinations on every reload would leak fds.
      next = await Runtime.loadFile(this.file, { ...this.opts, logger: this.logger });
    } catch (err) {
      const e = toProxyError(err);
      return fail(e.errors.length > 0 ? e.errors.map(formatProblem) : [`${this.file}:1:1: /: ${e.message}`]);
    }
    const old = this.rt;
    const pairs = pairServices(old.services, next.services);
    const added = next.services.filter((s) => !pairs.has(s));
    const started: ServiceRuntime[] = [];
    try {
      for (const s of added) {
        await s.start();
        started.push(s);
      }
    } catch (err) {
      await Promise.all(started.map((s) => s.stop(0)));
      await next.accessLogs.closeAll();
      return fail([toProxyError(err).message]);
    }
    if (this.stopped) {
      await Promise.all(started.map((s) => s.stop(0)));
      await next.accessLogs.closeAll();
      return fail(['stopping']);
    }
    return this.swap(old, next, pairs, reason);
  }

  /** Synchronous: no event can see a half-swapped state. */
  private swap(old: Runtime, next: Runtime, pairs: Map<ServiceRuntime, ServiceRuntime>, reason: string): ReloadResult {
    // Unchanged rules keep their buckets, connection slots and counters: sessions that outlive
    // the reload add their bytes to counters the new runtime saves (the old one saves no more).
    next.limits.adopt(old.limits);
    old.limits.stop(); // saves counters before the new Limits loads the ones it did not adopt
    next.limits.start((err) => next.logger.error({ err }, 'cannot save traffic counters'));
    // The old scheduler stops here, so exactly one runtime's jobs are ever armed.
    const oldJobs = old.retireJobs();
    next.scheduler.start();
    for (const [n, o] of pairs) n.adoptListener(o);
    // The admin service of the new runtime reloads through this supervisor, too.
    next.env.symbols.set(RELOAD_CONTROL_SYMBOL, this);
    this.rt = next;
    this.generation++;
    const keptOld = new Set(pairs.values());
    const result: ReloadResult = {
      ok: true,
      problems: [],
      added: next.services.filter((s) => !pairs.has(s)).map((s) => s.name),
      removed: old.services.filter((s) => !keptOld.has(s)).map((s) => s.name),
      kept: [...pairs.keys()].map((s) => s.name),
    };
    this.retire(old, oldJobs);
    const cut = [...this.retiring].reduce((k, r) => k + reauthorize(r, next), 0);
    if (cut > 0) this.logger.info({ cut }, 'reload: live sessions closed by reloadReauth');
    this.watchMonitored();
    // The port file is rewritten before the log line: whoever waits on the line reads the new ports.
    this.opts.onApplied?.(next, result);
    this.logger.info({ reason, generation: this.generation, added: result.added, removed: result.removed, kept: result.kept, services: next.ports() }, 'configuration reloaded');
    return result;
  }

  /** Old runtime: stop accepting, let its sessions finish on their pipeline, then close its logs. */
  private retire(old: Runtime, jobs: Promise<void>): void {
    this.retiring.add(old);
    const done = Promise.all([jobs, ...old.services.map((s) => s.stopListening())])
      .then(() => old.whenIdle())
      .then(() => old.accessLogs.closeAll())
      .catch((err: unknown) => this.logger.error({ err }, 'error while retiring the previous configuration'))
      .finally(() => {
        this.retiring.delete(old);
        this.retired.delete(done);
      });
    this.retired.add(done);
  }

  /** Resolves when every replaced runtime has drained and closed its logs. */
  async whenRetired(): Promise<void> {
    while (this.retired.size > 0) await Promise.all([...this.retired]);
  }

  /** `monitor:` files, relative to the config file. Directories are watched: editors replace files. */
  private watchMonitored(): void {
    this.unwatch();
    const files = ((this.rt.env.config['monitor'] ?? []) as string[]).map((f) => resolve(dirname(this.file), f));
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_event, name) => {
          if (name === null || names.has(name.toString())) this.schedule();
        });
        w.on('error', (err) => this.logger.warn({ err, dir }, 'monitor: watch failed'));
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ err, dir }, 'monitor: cannot watch');
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.reload('monitor');
    }, MONITOR_DEBOUNCE_MS);
  }

  private unwatch(): void {
    for (const w of this.watchers.splice(0)) w.close();
  }

  /** Graceful stop of the current and the draining runtimes (Runtime.stop semantics). */
  async stop(graceMs?: number): Promise<void> {
    this.stopped = true;
    this.unwatch();
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = null;
    await this.running?.catch(() => undefined);
    // Draining runtimes already saved their counters at the swap: only their sessions are left.
    const grace = graceMs ?? parseDuration((this.rt.env.config['shutdownTimeout'] as string | undefined) ?? '10s');
    const draining = this.retiring.size > 0;
    await Promise.all([this.rt.stop(graceMs), ...[...this.retiring].flatMap((r) => r.services.map((s) => s.stop(grace)))]);
    await Promise.all([...this.retired]);
    // Their sessions may have ended after the current runtime saved; they count into its counters.
    if (draining) {
      try {
        this.rt.limits.stop();
      } catch (err) {
        this.logger.error({ err }, 'cannot save traffic counters');
      }
    }
  }

  /** Cuts everything now (second signal). */
  kill(): void {
    this.stopped = true;
    this.unwatch();
    for (const r of [this.rt, ...this.retiring]) r.kill();
  }

  reopenLogs(): void {
    for (const r of [this.rt, ...this.retiring]) r.reopenLogs();
  }

  liveConnections(): number {
    return [this.rt, ...this.retiring].reduce((n, r) => n + r.liveConnections(), 0);
  }
}

/** new service -> old service whose listening socket it takes over. */
function pairServices(olds: readonly ServiceRuntime[], news: readonly ServiceRuntime[]): Map<ServiceRuntime, ServiceRuntime> {
  const pairs = new Map<ServiceRuntime, ServiceRuntime>();
  const free = new Set(olds);
  for (const n of news) {
    const o = [...free].find((s) => s.name === n.name && s.config.listen === n.config.listen && sameTransport(s, n));
    if (o !== undefined) {
      pairs.set(n, o);
      free.delete(o);
    }
  }
  // A renamed service on a fixed address: binding again would fail with EADDRINUSE.
  for (const n of news) {
    if (pairs.has(n) || (n.listenAddress.port === 0 && n.listenAddress.path === undefined)) continue;
    const o = [...free].find((s) => sameAddress(s, n));
    if (o !== undefined) {
      pairs.set(n, o);
      free.delete(o);
    }
  }
  return pairs;
}

/** A TCP server cannot be handed to a UDP service (or back): those bind afresh. */
function sameTransport(a: ServiceRuntime, b: ServiceRuntime): boolean {
  return (a.template.transport ?? 'tcp') === (b.template.transport ?? 'tcp');
}

function sameAddress(a: ServiceRuntime, b: ServiceRuntime): boolean {
  if (!sameTransport(a, b)) return false;
  const x = a.listenAddress;
  const y = b.listenAddress;
  if (x.path !== undefined || y.path !== undefined) return x.path === y.path;
  return x.host === y.host && x.port === y.port;
}
