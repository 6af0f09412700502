/**
 * Access-log sinks: where records go (stdout, stderr, a file, none) and how they look (json or
 * a 3proxy logformat). One sink per distinct target+format, shared by every service that uses
 * it; files are written through sonic-boom (pino's destination), which batches writes and can
 * reopen the file after logrotate moved it (SIGUSR2).
 */
import pino from 'pino';
import type { Session } from '../../core/session';
import type { AccessLogHub, AccessLogSink, AccessLogSpec } from '../../core/env';
import { fromSession, type AccessRecord } from './record';
import { compileLogFormat, expandTimeTemplate } from './format';
import { formatJson } from './json';

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

  constructor(
    readonly spec: AccessLogSpec,
    private readonly open: () => Destination | null,
    private readonly listeners: ReadonlySet<LogHook>,
  ) {
    this.format = formatterFor(spec.format);
    this.dest = open();
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
    const state = d as unknown as { fd: number; _opening?: boolean };
    if (state.fd < 0 || state._opening === true) await new Promise<void>((r) => d.once('ready', () => r()));
    await new Promise<void>((r) => d.flush(() => r()));
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
    return new Promise((resolve) => {
      d.once('close', () => resolve());
      d.once('error', () => resolve());
      d.end();
    });
  }

  private flushQuietly(d: Destination): void {
    try {
      d.flushSync();
    } catch {
      // ignore: stdout may be a closed pipe
    }
  }
}

function openTarget(to: string, now: Date): Destination | null {
  if (to === 'none') return null;
  if (to === 'stdout') return pino.destination({ dest: 1, sync: true });
  if (to === 'stderr') return pino.destination({ dest: 2, sync: true });
  const path = to.includes('%') ? expandTimeTemplate(to, now) : to;
  return pino.destination({ dest: path, sync: false, mkdir: true, append: true });
}

export class AccessLogs implements AccessLogHub {
  private readonly sinks = new Map<string, StreamSink>();
  /** Called for every record written (tests wait on these; plugin log hooks, admin views). */
  readonly listeners = new Set<LogHook>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  sink(spec: AccessLogSpec): AccessLogSink {
    const key = `${spec.to}\u0000${spec.format}`;
    let sink = this.sinks.get(key);
    if (sink === undefined) {
      sink = new StreamSink(spec, () => openTarget(spec.to, this.now()), this.listeners);
      this.sinks.set(key, sink);
    }
    return sink;
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
