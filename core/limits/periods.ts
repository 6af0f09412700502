/**
 * Counter periods (3proxy's c/H/D/W/M/Y letters): a counter resets when the local-time period
 * of "now" differs from that of its last reset.
 */
export type Every = 'never' | 'minutely' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'annually';

/** A number naming the period `t` falls in; equal numbers = same period. */
export function periodKey(every: Every, t: number): number {
  const d = new Date(t);
  const y = d.getFullYear();
  const day = Date.UTC(y, d.getMonth(), d.getDate()) / 86_400_000;
  switch (every) {
    case 'never':
      return 0;
    case 'minutely':
      return (day * 24 + d.getHours()) * 60 + d.getMinutes();
    case 'hourly':
      return day * 24 + d.getHours();
    case 'daily':
      return day;
    case 'weekly':
      // 1970-01-01 was a Thursday; +4 makes weeks start on Sunday, as 3proxy's tm_wday does.
      return Math.floor((day + 4) / 7);
    case 'monthly':
      return y * 12 + d.getMonth();
    case 'annually':
      return y;
  }
}

/** True when a counter last reset at `resetAt` must reset at `now`. */
export function periodChanged(every: Every, resetAt: number, now: number): boolean {
  return every !== 'never' && periodKey(every, resetAt) !== periodKey(every, now);
}
