/**
 * Typed name registries (gost's registry/registry.go): operators, auth methods, service
 * templates and plugin commands register by name; a second registration of a name is a
 * PRX_ERR_DUPLICATE_NAME, never a silent override.
 */
import { proxyError } from './errors';

export class Registry<T> {
  private readonly items = new Map<string, T>();

  /** @param kind what the registry holds, for error messages ("operator", "auth method"). */
  constructor(readonly kind: string) {}

  register(name: string, item: T): void {
    if (this.items.has(name)) throw proxyError('PRX_ERR_DUPLICATE_NAME', this.kind, name);
    this.items.set(name, item);
  }

  get(name: string): T | undefined {
    return this.items.get(name);
  }

  /** Like get, but an unknown name is a PRX_ERR_UNKNOWN_NAME. */
  require(name: string): T {
    const item = this.items.get(name);
    if (item === undefined) throw proxyError('PRX_ERR_UNKNOWN_NAME', this.kind, name);
    return item;
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  names(): string[] {
    return [...this.items.keys()];
  }

  entries(): [string, T][] {
    return [...this.items.entries()];
  }

  /** A copy that can be extended without touching this one (a reload's plugin registrations). */
  fork(): Registry<T> {
    const copy = new Registry<T>(this.kind);
    for (const [k, v] of this.items) copy.items.set(k, v);
    return copy;
  }
}
