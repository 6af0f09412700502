/**
 * Diagnostics logging: one pino root, child loggers per service (`{service}`) and, where
 * useful, per session (`{sid}`). Access records are NOT written here (see operators/log).
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Human-readable output through pino-pretty (only when asked: it costs CPU). */
  pretty?: boolean;
  /** Where to write: a file descriptor (default 2, stderr) or a path. */
  destination?: number | string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (opts.pretty === true) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: opts.destination ?? 2, colorize: false } },
    });
  }
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: true });
  return pino({ level, base: { pid: process.pid }, serializers: { err: pino.stdSerializers.err } }, dest);
}

/** A logger that drops everything, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
