/**
 * 3proxy `logformat` strings: compiled once, applied once per finished request.
 *
 * Behaviour follows 3proxy's `dobuf`/`dobuf2` (src/log.c) and `srvinit2` (src/proxymain.c):
 *
 *   "-XYZ+C"  optional filter prefix: in %U, %n and %T, chars X, Y, Z and every char < 0x20 become C
 *   "G"/"L"   the first remaining char picks the clock (G or g = GMT, anything else local); always consumed
 *   "%x"      escapes; an unknown one prints its letter, a lone trailing `%` prints itself
 *
 * Compilation turns the string into a flat list of getters so the per-record work is one tight loop
 * with no parsing, no regex building and at most one `Date` per second of log time.
 */
import type { AccessRecord } from './record';

/** 3proxy's `DEFLOGFORMAT`: used when no `logformat` is configured (GMT, compact timestamp). */
export const DEFAULT_3PROXY_FORMAT = 'G%y%m%d%H%M%S.%. %p %E %U %C:%c %R:%r %O %I %h %T';

export interface LogFormatOptions {
  /**
   * Forces the clock. The format's first character is still consumed (3proxy's rule), so a format
   * stays byte-compatible with 3proxy; only the G/L choice it makes is overridden.
   */
  readonly timeZone?: 'local' | 'utc';
}

/** Formats one record; the result carries no trailing newline (the writer adds it, as `logstdout` does). */
export type LogFormatter = (r: AccessRecord) => string;

/** 3proxy stops writing once the line reaches this many bytes... */
const LINE_CAP = 4040;
/** ...and stops copying user-supplied text (%U %n %T) at this one. */
const FIELD_CAP = 4000;
/** What 3proxy prints for an address it never set: a zeroed AF_INET sockaddr. */
const UNSET_ADDRESS = '0.0.0.0';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Broken-down time of one record (C's `struct tm` plus `tm_gmtoff` in minutes). */
interface Tm {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offsetMinutes: number;
}

const ZERO_TM: Tm = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, offsetMinutes: 0 };

/** One compiled piece of the line; `len` is what has been written so far (for the caps). */
type Getter = (r: AccessRecord, tm: Tm, len: number) => string;
type Clean = (s: string) => string;

interface Compiled {
  readonly parts: Getter[];
  readonly needsTime: boolean;
}

/**
 * Compiles a 3proxy `logformat` string into a record formatter.
 * Never throws: like 3proxy, every string is a valid format.
 */
export function compileLogFormat(format: string, opts: LogFormatOptions = {}): LogFormatter {
  const { body, clean } = splitFilterPrefix(format);
  const letter = body.charAt(0);
  const utc = opts.timeZone === undefined ? letter === 'G' || letter === 'g' : opts.timeZone === 'utc';
  return buildFormatter(compileBody(body.slice(1), clean), utc);
}

/**
 * Compiles a log FILE name template (3proxy's `dologname` with a `%` in the name) into a function of
 * the date. No clock letter is consumed and the clock is always local. Escapes that are not about
 * time print what 3proxy's zeroed fake client would (`-` for %U, `0.0.0.0` for addresses, 0 for numbers).
 */
export function compileTimeTemplate(template: string): (date: Date) => string {
  const format = buildFormatter(compileBody(template, identity), false);
  return (date) => format({ ...EMPTY_RECORD, time: date.getTime(), startTime: date.getTime() });
}

/** One-shot {@link compileTimeTemplate}: expands `%Y %y %m %d %H %M %S` (and the other time escapes) in local time. */
export function expandTimeTemplate(template: string, date: Date): string {
  return compileTimeTemplate(template)(date);
}

function buildFormatter({ parts, needsTime }: Compiled, utc: boolean): LogFormatter {
  const clock = makeClock(utc);
  const n = parts.length;
  return (r) => {
    const tm = needsTime ? clock(r.time) : ZERO_TM;
    let out = '';
    for (let k = 0; k < n && out.length < LINE_CAP; k++) out += parts[k]!(r, tm, out.length);
    return out;
  };
}

/** Splits off `-XYZ+C` exactly as `srvinit2` does: a leading `-`, the first `+` after it, and a char after that. */
function splitFilterPrefix(format: string): { body: string; clean: Clean } {
  const plus = format.startsWith('-') ? format.indexOf('+', 1) : -1;
  if (plus < 0 || plus + 1 >= format.length) return { body: format, clean: identity };
  return { body: format.slice(plus + 2), clean: makeCleaner(format.slice(1, plus), format.charAt(plus + 1)) };
}

function makeCleaner(chars: string, replacement: string): Clean {
  // Every listed char as a \uXXXX escape, so `]`, `\`, `^` and `-` need no special casing.
  let cls = '\\u0000-\\u001f';
  for (let i = 0; i < chars.length; i++) cls += `\\u${chars.charCodeAt(i).toString(16).padStart(4, '0')}`;
  const re = new RegExp(`[${cls}]`, 'g');
  const rep = replacement === '$' ? '$$' : replacement;
  // A plain scan first: most user names and request lines need no change, and it is cheaper than replace().
  let max = 0x1f;
  for (let i = 0; i < chars.length; i++) max = Math.max(max, chars.charCodeAt(i));
  const hit = new Uint8Array(max + 1).fill(1, 0, 0x20);
  for (let i = 0; i < chars.length; i++) hit[chars.charCodeAt(i)] = 1;
  return (s) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c <= max && hit[c] === 1) return s.replace(re, rep);
    }
    return s;
  };
}

function identity(s: string): string {
  return s;
}

/** Walks the format the way `dobuf2` does, gathering literal runs and field getters. */
function compileBody(body: string, clean: Clean): Compiled {
  const parts: Getter[] = [];
  let lit = '';
  let needsTime = false;
  const push = (g: Getter): void => {
    if (lit !== '') parts.push(literal(lit));
    lit = '';
    parts.push(g);
  };
  for (let j = 0; j < body.length; j++) {
    const ch = body.charAt(j);
    if (ch !== '%' || j + 1 >= body.length) {
      lit += ch;
      continue;
    }
    const e = body.charAt(++j);
    if (e >= '1' && e <= '9') {
      const range = parseRange(body, j, clean);
      j = range.next;
      if (range.get) push(range.get);
    } else if (e === '%') {
      lit += '%';
    } else if (TIME_ESCAPES[e]) {
      needsTime = true;
      push(TIME_ESCAPES[e]);
    } else {
      const get = fieldGetter(e, clean);
      if (get) push(get);
      else lit += e; // unknown escape: 3proxy prints the letter and drops the `%`
    }
  }
  if (lit !== '') parts.push(literal(lit));
  return { parts, needsTime };
}

function literal(s: string): Getter {
  return (_r, _tm, len) => (len + s.length <= LINE_CAP ? s : s.slice(0, LINE_CAP - len));
}

/**
 * `%X-YT` as `dobuf2` reads it. `next` is where the main loop resumes (it then steps one further), which
 * reproduces 3proxy's quirks: `%1T` prints field 1 then a literal `T`, `%1-2x` swallows the `x`, and
 * a digit with neither range nor T is dropped.
 */
function parseRange(body: string, j: number, clean: Clean): { next: number; get: Getter | null } {
  let k = j;
  while (isDigit(body.charAt(k))) k++;
  let pmin = 0;
  let pmax = 0;
  let next = j;
  if (body.charAt(k) === '-' && isDigit(body.charAt(k + 1))) {
    pmin = parseInt(body.slice(j, k), 10) - 1;
    const start = ++k;
    while (isDigit(body.charAt(k))) k++;
    pmax = parseInt(body.slice(start, k), 10) - 1;
    next = k;
  }
  if (body.charAt(k) !== 'T') return { next, get: null };
  return { next, get: (r, _tm, len) => userText(selectFields(r.text, pmin, pmax), clean, len) };
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

/** C's isspace in the "C" locale. */
function isSpace(c: string): boolean {
  return c === ' ' || (c >= '\t' && c <= '\r');
}

/**
 * Whitespace-separated fields pmin..pmax (0-based) of `s`, with dobuf2's exact spacing: a run of
 * whitespace counts as one separator and the last char of the run is kept between selected fields.
 */
function selectFields(s: string, pmin: number, pmax: number): string {
  let out = '';
  let field = 0;
  for (let i = 0; i < s.length; i++) {
    if (isSpace(s.charAt(i))) {
      field++;
      while (isSpace(s.charAt(i + 1))) i++;
      if (field === pmin) continue;
    }
    if (field >= pmin && field <= pmax) out += s.charAt(i);
  }
  return out;
}

/** User-supplied text: capped at FIELD_CAP bytes of line, then filtered. */
function userText(s: string, clean: Clean, len: number): string {
  const room = FIELD_CAP - len;
  if (room <= 0) return '';
  return clean(s.length <= room ? s : s.slice(0, room));
}

function fieldGetter(e: string, clean: Clean): Getter | null {
  // The three user-supplied fields go through the filter and the FIELD_CAP; the rest are fixed.
  if (e === 'U') return (r, _tm, len) => (r.user ? userText(r.user, clean, len) : '-');
  if (e === 'n') return (r, _tm, len) => hostOrBracketedIp(r, clean, len);
  if (e === 'T') return (r, _tm, len) => userText(r.text, clean, len);
  return FIXED_FIELDS[e] ?? null;
}

const FIXED_FIELDS: Partial<Record<string, Getter>> = {
  N: (r) => (r.serviceLogName === '' ? '-' : r.serviceLogName.slice(0, 20)),
  E: (r) => resultCode(r.code),
  p: (r) => String(r.servicePort),
  C: (r) => r.clientIp,
  c: (r) => String(r.clientPort),
  R: (r) => r.remoteIp ?? UNSET_ADDRESS,
  r: (r) => String(r.remotePort),
  Q: (r) => r.requestedIp ?? UNSET_ADDRESS,
  q: (r) => String(r.requestedPort),
  e: (r) => r.externalIp ?? UNSET_ADDRESS,
  i: (r) => r.internalIp,
  I: (r) => String(r.bytesIn),
  O: (r) => String(r.bytesOut),
  h: (r) => String(r.hops),
  D: (r) => String(r.durationMs),
  b: (r) => rate(r.bytesOut, r.durationMs),
  B: (r) => rate(r.bytesIn, r.durationMs),
  L: () => '0', // 3proxy's `cycles` counter is never incremented
};

/** %n: the requested host, unless there is none or it contains `:` (an IPv6 literal), then `[ip]`. */
function hostOrBracketedIp(r: AccessRecord, clean: Clean, len: number): string {
  const h = r.host;
  if (h !== null && h !== '' && !h.includes(':')) return userText(h, clean, len);
  return `[${r.requestedIp ?? UNSET_ADDRESS}]`;
}

/** `%.05d` followed by `i += 5`: zero-padded to 5 digits and never longer than 5 chars. */
function resultCode(code: number): string {
  const n = Math.trunc(code);
  const s = (n < 0 ? '-' : '') + String(Math.abs(n)).padStart(5, '0');
  return s.length === 5 ? s : s.slice(0, 5);
}

/** %b/%B: bytes per second over the session, 0 when no time has passed. */
function rate(bytes: number, ms: number): string {
  return ms > 0 ? String(Math.floor((bytes * 1000) / ms)) : '0';
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

const TIME_ESCAPES: Partial<Record<string, Getter>> = {
  y: (_r, tm) => pad2(tm.year % 100),
  Y: (_r, tm) => String(tm.year).padStart(4, '0'),
  m: (_r, tm) => pad2(tm.month + 1),
  o: (_r, tm) => MONTHS[tm.month] ?? '',
  d: (_r, tm) => pad2(tm.day),
  H: (_r, tm) => pad2(tm.hour),
  M: (_r, tm) => pad2(tm.minute),
  S: (_r, tm) => pad2(tm.second),
  t: (r) => String(Math.floor(r.time / 1000)).padStart(10, '0'),
  '.': (r) => String(((r.time % 1000) + 1000) % 1000).padStart(3, '0'),
  z: (_r, tm) => utcOffset(tm.offsetMinutes),
};

/**
 * +HHMM. For negative offsets with minutes (-03:30) 3proxy's `%.2u` of a negative remainder prints
 * garbage; we print the correct -0330 instead.
 */
function utcOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  return (minutes < 0 ? '-' : '+') + pad2(Math.floor(abs / 60)) + pad2(abs % 60);
}

/** Broken-down time, cached per second: at high request rates most records share their second. */
function makeClock(utc: boolean): (ms: number) => Tm {
  let cachedSecond = NaN;
  let cached = ZERO_TM;
  return (ms) => {
    const second = Math.floor(ms / 1000);
    if (second === cachedSecond) return cached;
    // Local time is UTC shifted by the offset in force at that instant, so one set of getters serves both.
    const offsetMinutes = utc ? 0 : -new Date(second * 1000).getTimezoneOffset();
    const d = new Date((second + offsetMinutes * 60) * 1000);
    cached = {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth(),
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      offsetMinutes,
    };
    cachedSecond = second;
    return cached;
  };
}

/** What 3proxy's zeroed `fakecli` holds when `dologname` expands a file name. */
// prettier-ignore
const EMPTY_RECORD: AccessRecord = {
  time: 0, startTime: 0, service: '', serviceLogName: '', servicePort: 0, user: null,
  clientIp: UNSET_ADDRESS, clientPort: 0, internalIp: UNSET_ADDRESS, externalIp: null,
  remoteIp: null, remotePort: 0, requestedIp: null, requestedPort: 0, host: null,
  operation: '', bytesIn: 0, bytesOut: 0, durationMs: 0, hops: 0, code: 0, errorCode: null, text: '',
};
