/**
 * The user table behind `auth: [strong]`: 3proxy's global password list (`users` lines), built
 * from the YAML `users:` map and/or 3proxy password files.
 *
 * Stored forms are parsed once when added (type, salt, expected hash), so a check does no
 * string work; the costly hashes (MD5-crypt, SHA-crypt, bcrypt) run only when a user logs in,
 * never at load. Names are case-sensitive (3proxy uses strcmp); a later entry for a name
 * replaces the earlier one.
 */
import { parseUserEntry, parseUsersFile } from './users-file';
import { verifyParsed, verifyParsedAsync } from './passwords';
import type { VerifyResult } from './passwords';
import type { ParsedPassword } from './stored-password';

/** What a check against the table gives; see `authErrorCode` for the 3proxy codes. */
export type UserVerifyResult = VerifyResult | 'unknown-user';

export class UserTable {
  /** Map rather than object: names like `__proto__` or `constructor` are ordinary users. */
  readonly #users = new Map<string, ParsedPassword>();
  /** Entries skipped or suspicious, as `WHERE: message`, in the order found. */
  readonly warnings: string[] = [];

  /** A table from a YAML `users:` map (`{ name: "TYPE:secret" }`). */
  static fromMap(map: Readonly<Record<string, unknown>>, source = 'users'): UserTable {
    return new UserTable().addMap(map, source);
  }

  /** A table from a 3proxy users file's text. */
  static fromUsersFile(text: string, fileName: string): UserTable {
    return new UserTable().addUsersFile(text, fileName);
  }

  /** Adds the entries of a YAML `users:` map; `source` prefixes warnings (`users.alice: …`). */
  addMap(map: Readonly<Record<string, unknown>>, source = 'users'): this {
    for (const [name, stored] of Object.entries(map)) {
      const where = `${source}.${name}`;
      if (typeof stored !== 'string') {
        this.warnings.push(`${where}: expected a "TYPE:secret" string, got ${typeof stored}; entry skipped`);
        continue;
      }
      const checked = parseUserEntry(name, stored);
      if (!checked.ok) {
        this.warnings.push(`${where}: ${checked.reason}; entry skipped`);
        continue;
      }
      if (checked.warning !== undefined) this.warnings.push(`${where}: ${checked.warning}`);
      this.#users.set(name, checked.password);
    }
    return this;
  }

  /** Adds the entries of a 3proxy users file (`name:TYPE:secret` tokens). */
  addUsersFile(text: string, fileName: string): this {
    const file = parseUsersFile(text, fileName);
    for (const entry of file.entries) this.#users.set(entry.name, entry.password);
    this.warnings.push(...file.warnings);
    return this;
  }

  /** Number of users. */
  get size(): number {
    return this.#users.size;
  }

  /** Whether `name` has an entry (case-sensitive). */
  has(name: string): boolean {
    return this.#users.has(name);
  }

  /** User names, in first-added order. */
  names(): string[] {
    return [...this.#users.keys()];
  }

  /**
   * Checks a login. Synchronous, so a bcrypt entry blocks for its cost; serving code should
   * use {@link verifyAsync}.
   */
  verify(name: string, password: string): UserVerifyResult {
    const stored = this.#users.get(name);
    return stored === undefined ? 'unknown-user' : verifyParsed(stored, password);
  }

  /** {@link verify} with a bcrypt check that yields to the event loop. */
  async verifyAsync(name: string, password: string): Promise<UserVerifyResult> {
    const stored = this.#users.get(name);
    return stored === undefined ? 'unknown-user' : verifyParsedAsync(stored, password);
  }
}
