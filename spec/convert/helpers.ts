/**
 * Shared helpers for the converter specs: fixture paths and a `readFile` that serves the
 * files a fixture includes (`include /etc/3proxy/counters`, `$nets.list`) from fixtures/.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { convertLegacy, formatDiagnostic } from '../../config/convert';
import type { ConvertResult } from '../../config/convert';

export const FIXTURES = path.join(__dirname, 'fixtures');

/** Include path as written in a fixture -> fixture file that stands in for it. */
export const INCLUDED: Readonly<Record<string, string>> = {
  '/etc/3proxy/counters': 'nansume-counters.inc',
  '/etc/3proxy/bandlimiters': 'nansume-bandlimiters.inc',
  'users.list': 'quoting-users.inc',
  'nets.list': 'quoting-nets.inc',
  'more.list': 'quoting-more.inc',
};

/** Serves INCLUDED (absolute keys exactly, relative keys by base name); anything else is missing. */
export function fixtureReader(extra: Readonly<Record<string, string>> = {}): (file: string) => string | undefined {
  return (file) => {
    if (extra[file] !== undefined) return extra[file];
    const key = Object.keys(INCLUDED).find((k) => (k.startsWith('/') ? file === k : path.basename(file) === k));
    return key === undefined ? undefined : readFileSync(path.join(FIXTURES, INCLUDED[key] ?? ''), 'utf8');
  };
}

/** Converts inline config text; includes come from `files` (absolute or base name keys). */
export function convertText(text: string, files: Readonly<Record<string, string>> = {}): ConvertResult {
  const read = (file: string): string | undefined => files[file] ?? files[path.basename(file)];
  return convertLegacy(text, 'test.cfg', { readFile: read });
}

/** `CODE@LINE` for each warning, the compact form the tables use. */
export const codesAt = (r: ConvertResult): string[] => r.warnings.map((w) => `${w.code ?? '?'}@${w.line}`);

/** Errors as `FILE:LINE: message` lines (for readable failure output). */
export const errorLines = (r: ConvertResult): string[] => r.errors.map(formatDiagnostic);
