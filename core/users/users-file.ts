/**
 * 3proxy password files (`users $/etc/3proxy/passwd`): `name:TYPE:secret` entries, one per
 * line or several separated by white space; lines starting with `#` are comments; a token in
 * double quotes may hold spaces. Entries 3proxy would skip (no colon, empty name, unknown
 * type) are skipped here too, but reported as `FILE:LINE: message` warnings.
 */
import { parseStoredPassword } from './stored-password';
import type { ParseResult, ParsedPassword } from './stored-password';

/** One accepted entry of a users file. */
export interface UsersFileEntry {
  readonly name: string;
  /** The stored form after `name:`, e.g. `CL:secret` or `CR:$1$…`. */
  readonly stored: string;
  readonly password: ParsedPassword;
  readonly line: number;
}

/** What {@link parseUsersFile} found: entries in file order, and warnings. */
export interface UsersFile {
  readonly entries: UsersFileEntry[];
  readonly warnings: string[];
}

/** Splits one line into tokens: white space separates, `"…"` keeps spaces inside. */
function tokenize(line: string): string[] {
  const tokens: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) tokens.push(m[1] ?? m[2] ?? '');
  return tokens;
}

/**
 * Checks one `name:stored` entry. Returns the parsed password, or a reason to skip it; a
 * usable entry may also carry a warning (empty password, hash that can never match).
 */
export function parseUserEntry(name: string, stored: string): ParseResult {
  if (name === '') return { ok: false, reason: 'empty user name' };
  return parseStoredPassword(stored);
}

/** Parses a users file's text; `fileName` is only used in warnings. */
export function parseUsersFile(text: string, fileName: string): UsersFile {
  const entries: UsersFileEntry[] = [];
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trimStart().startsWith('#')) return;
    for (const token of tokenize(raw)) {
      const colon = token.indexOf(':');
      if (colon < 0) {
        warnings.push(`${fileName}:${line}: entry "${token}" has no colon (expected name:TYPE:secret); skipped`);
        continue;
      }
      const name = token.slice(0, colon);
      const stored = token.slice(colon + 1);
      const checked = parseUserEntry(name, stored);
      if (!checked.ok) {
        warnings.push(`${fileName}:${line}: ${checked.reason}; entry skipped`);
        continue;
      }
      if (checked.warning !== undefined) warnings.push(`${fileName}:${line}: user "${name}": ${checked.warning}`);
      entries.push({ name, stored, password: checked.password, line });
    }
  });
  return { entries, warnings };
}

/**
 * The two shapes of the YAML `users:` section. `file` is a reserved key: `{ file: PATH }` names a
 * 3proxy users file, never a user called "file" (that user goes in a users file). The schema
 * refuses `file` next to other keys or with a `TYPE:` value, so both shapes can't be confused.
 */
export type UsersSection =
  | { readonly kind: 'map'; readonly map: Readonly<Record<string, unknown>> }
  | { readonly kind: 'file'; readonly path: string };

/** Which shape a (schema-validated) `users:` value has; absent means an empty map. */
export function usersSection(value: unknown): UsersSection {
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'map', map: {} };
  const map = value as Readonly<Record<string, unknown>>;
  if (Object.hasOwn(map, 'file') && typeof map['file'] === 'string') return { kind: 'file', path: map['file'] };
  return { kind: 'map', map };
}
