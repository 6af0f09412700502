/**
 * Access-log translators: log, logformat, rotate, archiver, logdump (inventory §4). The
 * target and format are pending state (each service keeps the ones in force at its line);
 * rotation and the archiver belong to the global log file.
 */
import type { ConvertState } from './state';
import { period } from './model';

/** A 3proxy log target (`log` argument or `-l` value) as YAML `to:`. */
export function logTarget(st: ConvertState, target: string | undefined): string {
  if (target === undefined || target === '' || target === '/dev/stdout') return 'stdout';
  if (target === '/dev/null') return 'none';
  if (target === '/dev/stderr') return 'stderr';
  if (target.startsWith('@')) return `syslog:${target.slice(1)}`;
  if (target.startsWith('&')) {
    st.warn('PRXWRN004', `ODBC logging (log ${target}) is not supported; these records are not written (use a file or syslog)`);
    return 'none';
  }
  if (target === 'radius') {
    st.warn('PRXWRN004', 'RADIUS accounting (log radius) is not supported; these records are not written');
    return 'none';
  }
  return target;
}

export function log(st: ConvertState, args: readonly string[]): void {
  const to = logTarget(st, args[1]);
  st.log.target = st.sourced(to);
  // The rotation letter only means something for a plain file (conf.c h_log).
  if (args[2] !== undefined) {
    if (to === 'none' || to === 'stdout' || to === 'stderr' || to.startsWith('syslog:')) {
      st.warn('PRXWRN004', `rotation "${args[2]}" for a log that is not a file`);
    } else {
      st.log.every = st.sourced(period(args[2]));
    }
  }
  st.log.lastChange = st.src;
  st.log.servicesAtChange = st.services.length;
}

/** The part of a logformat after the `-XYZ+C` character filter. */
function afterFilter(format: string): string {
  if (format.startsWith('-')) {
    const plus = format.indexOf('+');
    if (plus > 0 && plus + 1 < format.length) return format.slice(plus + 2);
  }
  return format;
}

export function logformat(st: ConvertState, args: readonly string[]): void {
  const format = args[1] ?? '';
  const body = afterFilter(format);
  if (!/^[LlGg]/.test(body)) {
    st.warn('PRXWRN007', `logformat does not start with L or G: its first character "${body.charAt(0)}" is taken as the time-zone flag and not printed (3proxy semantics)`);
  }
  st.log.format = st.sourced(format);
  st.log.lastChange = st.src;
  st.log.servicesAtChange = st.services.length;
}

export function rotate(st: ConvertState, args: readonly string[]): void {
  const n = Number(/^-?\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (n <= 0) {
    st.warn('PRXWRN004', `rotate "${args[1] ?? ''}" reads as ${n} in 3proxy: old logs are never deleted`);
    delete st.log.keep;
    return;
  }
  st.log.keep = st.sourced(n);
}

/** `archiver EXT COMMAND ARGS...`: %A is the archive name, %F the rotated file. */
export function archiver(st: ConvertState, args: readonly string[]): void {
  st.log.archiver = st.sourced({ ext: args[1] ?? '', command: args.slice(2) });
}

/** `logdump IN_BYTES [OUT_BYTES]`: interim records for long sessions. */
export function logdump(st: ConvertState, args: readonly string[]): void {
  const value: Record<string, number> = { in: Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0') };
  if (args[2] !== undefined) value['out'] = Number(/^\d*/.exec(args[2])?.[0] || '0');
  st.set('logDump', value);
}
