/**
 * Access-log sinks: where records go (stdout, stderr, a file, none) and how they look (json or
 * a 3proxy logformat). One sink per distinct target+format, shared by every service that uses
 * it; files are written through sonic-boom (pino's destination), which batches writes and can
 * reopen the file after logrotate moved it (SIGUSR2).
 *
 * The root access log may rotate (3proxy `log FILE D` + `rotate N` + `archiver`):
 *   scheduler tick -> period changed -> open the new period's file, records go there
 *                  -> close the old file -> archive it (built-in gzip, or the archiver command)
 *                  -> delete old files beyond `keep`
 */
import pino from 'pino';
import type { Session } from '../../core/session';
import type { AccessLogHub, AccessLogSink, AccessLogSpec } from '../../core/env';
import { fromSession, type AccessRecord } from './record';
import { compileLogFormat, expandTimeTemplate } from './format';
import { formatJson } from './json';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { periodKey } from '../../core/limits/periods';
import type { SchedulePeriod } from '../../core/plugin-api';
import type { Logger } from '../../core/logger';
import { proxyError } from '../../core/errors';

/** The root accessLog's rotation settings, validated. */
export interface Rotation {
  readonly to: string;
  readonly every: SchedulePeriod;
  /** Old files kept; undefined keeps them all (3proxy without `rotate`). */
  readonly keep?: number;
  readonly archiver?: { readonly ext: string; readonly command?: readonly string[] };
  readonly logger: Logger;
}

/** The rotation of a root `accessLog:` section; undefined when it does not rotate a file. */
export function rotationOf(accessLog: unknown, logger: Logger): Rotation | undefined {
  const cfg = (accessLog ?? {}) as { to?: string; rotate?: { every?: string; keep?: number }; archiver?: { ext?: string; command?: string[] } };
  const every = cfg.rotate?.every;
  if (every === undefined || every === 'never') return undefined;
  const to = cfg.to;
  if (to === undefined || to === 'stdout' || to === 'stderr' || to === 'none') {
    logger.warn({ to: to ?? 'stdout' }, 'accessLog.rotate ignored: only a file access log rotates');
    return undefined;
  }
  const a = cfg.archiver;
  return {
    to,
    every: every as SchedulePeriod,
    ...(cfg.rotate?.keep !== undefined ? { keep: cfg.rotate.keep } : {}),
    ...(a !== undefined ? { archiver: { ext: a.ext ?? 'gz', ...(a.command !== undefined && a.command.length > 0 ? { command: a.command } : {}) } } : {}),
    logger,
  };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** 3proxy dologname: `%` escapes expanded, else a period suffix (weekly files are named by their Sunday). */
export function rotatedName(to: string, every: SchedulePeriod, date: Date): string {
  if (to.includes('%')) return expandTimeTemplate(to, date);
  const d = every === 'weekly' ? new Date(date.getFullYear(), date.getMonth(), date.getDate() - date.getDay()) : date;
  const ymd = `${pad(d.getFullYear(), 4)}.${pad(d.getMonth() + 1)}.${pad(d.getDate())}`;
  switch (every) {
    case 'annually':
      return `${to}.${pad(d.getFullYear(), 4)}`;
    case 'monthly':
      return `${to}.${pad(d.getFullYear(), 4)}.${pad(d.getMonth() + 1)}`;
    case 'weekly':
    case 'daily':
      return `${to}.${ymd}`;
    case 'hourly':
      return `${to}.${ymd}-${pad(d.getHours())}`;
    case 'minutely':
      return `${to}.${ymd}-${pad(d.getHours())}.${pad(d.getMinutes())}`;
  }
}

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ESCAPE_RE: Partial<Record<string, string>> = { Y: '\\d{4}', y: '\\d{2}', m: '\\d{2}', d: '\\d{2}', H: '\\d{2}', M: '\\d{2}', S: '\\d{2}', o: '[A-Za-z]{3}', t: '\\d{10,}', '.': '\\d{3}', z: '[+-]\\d{4}', '%': '%' };

/**
 * File names (in the log's directory) of every period of this log, archived or not. Specific on
 * purpose: retention deletes what matches, and a log directory holds other files.
 */
function periodFilePattern(to: string, ext: string | undefined): RegExp {
  const name = basename(to);
  let body: string;
  if (name.includes('%')) {
    body = '';
    for (let i = 0; i < name.length; i++) {
      const ch = name.charAt(i);
      if (ch === '%' && i + 1 < name.length) body += ESCAPE_RE[name.charAt(++i)] ?? '[^/]*?';
      else body += reEscape(ch);
    }
  } else {
    body = reEscape(name) + '\\.\\d{4}(\\.\\d{2}(\\.\\d{2}(-\\d{2}(\\.\\d{2})?)?)?)?';
  }
  return new RegExp(`^${body}${ext !== undefined ? `(\\.${reEscape(ext)})?` : ''}$`);
}

function runArchiver(command: readonly string[], archive: string, file: string): Promise<void> {
  const [cmd, ...args] = command.map((a) => a.replaceAll('%A', archive).replaceAll('%F', file));
  return new Promise((resolve, reject) => {
    execFile(cmd ?? '', args, (err) => (err === null ? resolve() : reject(new Error(`archiver ${cmd ?? ''} failed: ${err.message}`, { cause: err }))));
  });
}

type Destination = ReturnType<typeof pino.destination>;

export type RecordFormatter = (r: AccessRecord) => string;

export function formatterFor(format: string): RecordFormatter {
  return format === 'json' ? formatJson : compileLogFormat(format);
}

/** Hook that replaces how records are written (3proxy logfunc; plugin hooks). */
export type LogHook = (record: AccessRecord, line: string) => void;

class StreamSink implements AccessLogSink {
  private readonly format: RecordFormatter;
  private dest: Destination | null;
  /** The file being written and the period it belongs to (rotation). */
  private path: string;
  private key: number;

  constructor(
    readonly spec: AccessLogSpec,
    private readonly openFiles: boolean,
    private readonly now: () => Date,
    private readonly listeners: ReadonlySet<LogHook>,
    private readonly rotation?: Rotation,
  ) {
    this.format = formatterFor(spec.format);
    const t = now();
    this.path = this.nameAt(t);
    this.key = rotation !== undefined ? periodKey(rotation.every, t.getTime()) : 0;
    this.dest = openFiles ? openTarget(spec.to, this.path) : null;
  }

  private nameAt(t: Date): string {
    if (this.rotation !== undefined) return rotatedName(this.spec.to, this.rotation.every, t);
    return this.spec.to.includes('%') ? expandTimeTemplate(this.spec.to, t) : this.spec.to;
  }

  /** Switches to the current period's file when the period changed; the old one is archived and pruned. */
  async rotate(): Promise<void> {
    const r = this.rotation;
    if (r === undefined || this.dest === null) return;
    const t = this.now();
    const key = periodKey(r.every, t.getTime());
    if (key === this.key) return;
    this.key = key;
    const path = this.nameAt(t);
    // A template without the period's escapes names the same file: nothing to switch.
    if (path === this.path) return;
    const old = this.dest;
    const oldPath = this.path;
    this.dest = openTarget(this.spec.to, path);
    this.path = path;
    await endDestination(old);
    try {
      // The clock's time, not the wall's: retention orders files by mtime, and tests fake the clock.
      await utimes(oldPath, t, t);
      await this.archive(r, oldPath, t);
    } catch (err) {
      r.logger.error({ err, file: oldPath }, 'access log rotation: cannot archive the old file');
    }
    await this.prune(r).catch((err: unknown) => r.logger.error({ err, to: r.to }, 'access log rotation: cannot delete old files'));
  }

  private async archive(r: Rotation, file: string, t: Date): Promise<void> {
    const a = r.archiver;
    if (a === undefined) return;
    const archive = `${file}.${a.ext}`;
    if (a.command !== undefined) {
      // As in 3proxy, the command owns the old file (and deletes it if it wants).
      await runArchiver(a.command, archive, file);
    } else {
      await pipeline(createReadStream(file), createGzip(), createWriteStream(archive));
      await unlink(file);
    }
    await utimes(archive, t, t).catch(() => undefined);
  }

  private async prune(r: Rotation): Promise<void> {
    if (r.keep === undefined) return;
    // Files in a %-named directory cannot be listed by pattern; 3proxy's own retention has the same limit.
    if (dirname(r.to).includes('%')) return;
    const dir = dirname(this.path);
    const re = periodFilePattern(r.to, r.archiver?.ext);
    const current = basename(this.path);
    const names = (await readdir(dir)).filter((n) => n !== current && re.test(n));
    const withTime = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs })));
    withTime.sort((a, b) => b.t - a.t || (a.n < b.n ? 1 : a.n > b.n ? -1 : 0));
    for (const { n } of withTime.slice(r.keep)) await unlink(join(dir, n)).catch(() => undefined);
  }

  write(session: Session): void {
    // `to: none` with nobody listening (no plugin hook, no admin view): nothing to build.
    if (this.dest === null && this.listeners.size === 0) return;
    const record = fromSession(session);
    const line = this.format(record);
    this.dest?.write(line + '\n');
    for (const l of this.listeners) l(record, line);
  }

  flush(): void {
    const d = this.dest;
    if (d !== null) {
      try {
        d.flushSync();
      } catch {
        // Not yet opened or busy: sonic-boom flushes on its own.
      }
    }
  }

  /** Resolves once everything written so far is in the file (waits for a pending open). */
  async settle(): Promise<void> {
    const d = this.dest;
    if (d === null) return;
    const state = d as unknown as { fd: number; _opening?: boolean; _writing?: boolean };
    if (state.fd < 0 || state._opening === true) await new Promise<void>((r) => d.once('ready', () => setImmediate(r)));
    // sonic-boom's flush(cb) calls back at once with minLength 0, even mid-write: wait for the
    // writes in flight instead ('write' is emitted just before _writing is cleared, hence setImmediate).
    while (state._writing === true && this.dest === d) {
      await new Promise<void>((r) => {
        const done = (): void => {
          d.off('error', done);
          d.off('close', done);
          d.off('write', done);
          setImmediate(r);
        };
        d.once('write', done);
        d.once('error', done);
        d.once('close', done);
      });
    }
  }

  reopen(): void {
    if (this.dest !== null && this.spec.to !== 'stdout' && this.spec.to !== 'stderr') this.dest.reopen();
  }

  close(): Promise<void> {
    const d = this.dest;
    this.dest = null;
    if (d === null || this.spec.to === 'stdout' || this.spec.to === 'stderr') {
      if (d !== null) this.flushQuietly(d);
      return Promise.resolve();
    }
    return endDestination(d);
  }

  private flushQuietly(d: Destination): void {
    try {
      d.flushSync();
    } catch {
      // ignore: stdout may be a closed pipe
    }
  }
}

function endDestination(d: Destination): Promise<void> {
  return new Promise((resolve) => {
    d.once('close', () => resolve());
    d.once('error', () => resolve());
    d.end();
  });
}

/** Syslog is not implemented; the converter writes `syslog:IDENT` for 3proxy's `log @IDENT`. */
export const SYSLOG_TARGET_MESSAGE = 'syslog access logs are not supported: use "stdout" (journald and docker collect it) or a file';

function openTarget(to: string, path: string): Destination | null {
  if (to === 'none') return null;
  if (to === 'stdout') return pino.destination({ dest: 1, sync: true });
  if (to === 'stderr') return pino.destination({ dest: 2, sync: true });
  // Guarded here too: a file named "syslog:daemon" in the working directory is never what was meant.
  if (to.startsWith('syslog:')) throw proxyError('PRX_ERR_CONFIG_VALUE', `accessLog to "${to}"`, SYSLOG_TARGET_MESSAGE);
  return pino.destination({ dest: path, sync: false, mkdir: true, append: true });
}

export class AccessLogs implements AccessLogHub {
  private readonly sinks = new Map<string, StreamSink>();
  /** Called for every record written (tests wait on these; plugin log hooks, admin views). */
  readonly listeners = new Set<LogHook>();

  constructor(
    private readonly now: () => Date = () => new Date(),
    /** False for a dry run (validate): sinks are built, files are not opened. */
    private readonly openFiles = true,
    /** The root access log's rotation; applies to every sink writing to that target (3proxy rotates only the global log). */
    private readonly rotation?: Rotation,
  ) {}

  sink(spec: AccessLogSpec): AccessLogSink {
    const key = `${spec.to}\u0000${spec.format}`;
    let sink = this.sinks.get(key);
    if (sink === undefined) {
      const rotation = this.rotation?.to === spec.to ? this.rotation : undefined;
      sink = new StreamSink(spec, this.openFiles, this.now, this.listeners, rotation);
      this.sinks.set(key, sink);
    }
    return sink;
  }

  /** Rotates the sinks whose period changed (the scheduler calls this). */
  async rotateAll(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.rotate()));
  }

  reopenAll(): void {
    for (const s of this.sinks.values()) s.reopen();
  }

  flushAll(): void {
    for (const s of this.sinks.values()) s.flush();
  }

  /** Waits until every record written so far has reached its file (rotation, tests). */
  async settleAll(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.settle()));
  }

  async closeAll(): Promise<void> {
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
