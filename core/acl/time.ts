/**
 * ACL `weekdays:` and `times:` (3proxy ACE fields 6 and 7), both in the server's local time.
 *
 * Weekdays: 0-7 where 0 and 7 are both Sunday, or single-digit ranges `1-5`. Compiled to a
 * 7-bit mask tested against `1 << date.getDay()`.
 *
 * Times: `HH:MM:SS-HH:MM:SS`, half-open [from, to) in seconds since local midnight;
 * `24:00:00` is allowed as an end. A period cannot wrap midnight: split `22:00:00-06:00:00`
 * into `22:00:00-24:00:00` and `00:00:00-06:00:00`. 3proxy silently stops parsing at a bad
 * or reversed period; we refuse the config instead, naming the token.
 */
import { proxyError } from '../errors';
import type { ProxyError } from '../errors';

const bad = (token: string | number, where: string, why: string): ProxyError =>
  proxyError('PRX_ERR_CONFIG_VALUE', `${where ? `${where} ` : ''}"${token}"`, why);

/** Bit of a weekday number 0-7 (7 folds to Sunday, as 3proxy's `val % 7`). */
const dayBit = (d: number): number => 1 << d % 7;

/** Compiles weekday tokens (numbers or strings `N` / `N-M`) to a mask of `1 << getDay()` bits. */
export function compileWeekdays(tokens: readonly (string | number)[], where = ''): number {
  let mask = 0;
  for (const token of tokens) {
    const m = /^([0-7])(?:-([0-7]))?$/.exec(String(token).trim());
    if (m === null) throw bad(token, where, 'weekday must be 0-7 (0 and 7 are Sunday) or a range like 1-5');
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw bad(token, where, 'weekday range start is after its end');
    for (let d = from; d <= to; d++) mask |= dayBit(d);
  }
  return mask;
}

/** True when `now`'s local weekday is in the mask. */
export function weekdayMatches(mask: number, now: Date): boolean {
  return (mask & (1 << now.getDay())) !== 0;
}

function clockSeconds(text: string, allow24: boolean): number {
  const h = Number(text.slice(0, 2));
  const m = Number(text.slice(3, 5));
  const s = Number(text.slice(6, 8));
  if (allow24 && h === 24 && m === 0 && s === 0) return 86400;
  if (h > 23 || m > 59 || s > 59) return -1;
  return h * 3600 + m * 60 + s;
}

/**
 * Compiles `times:` tokens to flat [from, to, from, to, ...] pairs of seconds since local
 * midnight, half-open.
 */
export function compileTimes(tokens: readonly string[], where = ''): Int32Array {
  const out = new Int32Array(tokens.length * 2);
  tokens.forEach((token, i) => {
    const m = /^(\d\d:\d\d:\d\d)-(\d\d:\d\d:\d\d)$/.exec(String(token).trim());
    if (m === null) throw bad(token, where, 'time period must be HH:MM:SS-HH:MM:SS');
    const from = clockSeconds(m[1] ?? '', false);
    const to = clockSeconds(m[2] ?? '', true);
    if (from < 0 || to < 0) throw bad(token, where, 'time out of range (00:00:00-23:59:59, or 24:00:00 as an end)');
    if (to <= from) throw bad(token, where, 'period ends before it starts; split periods that cross midnight in two');
    out[2 * i] = from;
    out[2 * i + 1] = to;
  });
  return out;
}

/** Seconds since local midnight of `now` (what 3proxy computes as time_start - basetime). */
export function secondsOfDay(now: Date): number {
  return now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds();
}

/** True when `seconds` (since local midnight) falls in any [from, to) period. */
export function inPeriods(periods: Int32Array, seconds: number): boolean {
  for (let i = 0; i < periods.length; i += 2) {
    if (seconds >= (periods[i] as number) && seconds < (periods[i + 1] as number)) return true;
  }
  return false;
}

/** True when `now` falls in any [from, to) period. */
export function timeMatches(periods: Int32Array, now: Date): boolean {
  return inPeriods(periods, secondsOfDay(now));
}
