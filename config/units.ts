/**
 * Units in config values: durations (`10s`, `5m`, `1500ms`, bare numbers are seconds as in
 * 3proxy), sizes (`64KB`, `1MiB`, bare numbers are bytes) and rates (`1MB/s`, `8Mbit/s`,
 * bare numbers are bits per second as 3proxy's bandlim).
 */
import { proxyError } from '../core/errors';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = DURATION.exec(value.trim());
  if (m === null) throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(value), 'expected a duration like 10s, 5m, 1500ms');
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 's']!);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G)?$/i;
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Bytes. KB/MB are binary multiples, as 3proxy's limits (MB = 1048576) are. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = SIZE.exec(value.trim());
  if (m === null) throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(value), 'expected a size like 64KB, 1MB');
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

const RATE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|bit|kbit|Mbit|Gbit|bps|kbps|Mbps|Gbps)\/?s?$/i;
const RATE_BITS: Record<string, number> = {
  b: 8,
  kb: 8 * 1024,
  mb: 8 * 1024 ** 2,
  gb: 8 * 1024 ** 3,
  bit: 1,
  kbit: 1000,
  mbit: 1e6,
  gbit: 1e9,
  bps: 1,
  kbps: 1000,
  mbps: 1e6,
  gbps: 1e9,
};

/** Bits per second. A bare number is bits/s (3proxy `bandlimin 57600`). */
export function parseRate(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = RATE.exec(value.trim());
  if (m === null) throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(value), 'expected a rate like 1MB/s, 8Mbit/s or bits/s');
  const unit = m[2]!;
  // "Mb" vs "MB": byte units are written with a capital B; bit units spell "bit"/"bps".
  const key = /^[kmg]?b$/i.test(unit) && unit.endsWith('b') ? unit.toLowerCase() + 'it' : unit.toLowerCase();
  const factor = RATE_BITS[key] ?? RATE_BITS[unit.toLowerCase()];
  if (factor === undefined) throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(value), 'unknown rate unit');
  return Math.round(Number(m[1]) * factor);
}

/** Pattern strings shared with the schemas so editors flag bad values early. */
export const DURATION_PATTERN = '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|w)?$';
export const SIZE_PATTERN = '^\\d+(\\.\\d+)?\\s*([BKMGT]|[KMGT]B|[KMGT]iB)?$';
export const RATE_PATTERN = '^\\d+(\\.\\d+)?\\s*([KMG]?B|[kmgKMG]?bit|[kmgKMG]?bps)/?s?$';
