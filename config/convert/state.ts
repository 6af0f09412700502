/**
 * The converter's script state, 3proxy's model (inventory §0, §2.1):
 *
 *   pending (copied by each service line)   auth chain, ACL (+ parents), maxconn, backlog,
 *                                           log target and format, internal/external, TLS
 *   global (wherever it appears)            users, counters, bandwidth, connection limits,
 *                                           resolver, timeouts, authcache, plugins, misc
 *
 * Translators mutate this object; `emit.ts` turns it into YAML. Every stored value keeps the
 * source line it came from, so the YAML can name it in a comment.
 */
import { proxyError, WARNINGS } from '../../core/errors';
import type { WarningCode } from '../../core/errors';
import type { AclRule, Diagnostic, ServiceOut, SourceRef, Sourced } from './model';
import type { PluginCommand } from './plugin-commands';

/**
 * TLS commands that the service lines pick up: `ssl_serv` and the listener's key material and
 * policy (ssl_server_*), `ssl_cli` and the client side's (ssl_client_*).
 */
export interface TlsPending {
  serve?: boolean;
  cert?: string;
  key?: string;
  ca?: string;
  requestCert?: boolean;
  /** ssl_server_cipher_list / ssl_server_ciphersuites / ssl_server_{min,max}_proto_version. */
  server?: TlsPolicy;
  cli?: boolean;
  /** ssl_client_mode: 0 on connect (default), 1 after auth, 2 before data, 3 "s" parents only. */
  clientMode?: number;
  client?: TlsPolicy & { ca?: string; cert?: string; key?: string; sni?: string; alpn?: string[]; verify?: boolean };
}

/** Cipher and version policy of one side, as the legacy commands give it. */
export interface TlsPolicy {
  cipherList?: string;
  cipherSuites?: string;
  minVersion?: string;
  maxVersion?: string;
}

/** Resolver pieces (nserver, nscache, nsrecord, fakeresolve, authnserver). */
export interface ResolverState {
  servers: Sourced<string>[];
  cacheSize?: Sourced<number>;
  cacheSize6?: Sourced<number>;
  hosts: Map<string, Sourced<string>>;
  fakeResolve?: Sourced<boolean>;
  authServer?: Sourced<string>;
}

/** Global access-log state; services compare their snapshot with the final one. */
export interface LogState {
  /** Current target; undefined until the first `log` command. */
  target?: Sourced<string>;
  format?: Sourced<string>;
  every?: Sourced<string>;
  keep?: Sourced<number>;
  archiver?: Sourced<{ ext: string; command: string[] }>;
  /** Last `log`/`logformat` line, for the "log after the service" pitfall. */
  lastChange?: SourceRef;
  /** How many services existed when `lastChange` ran. */
  servicesAtChange?: number;
}

export class ConvertState {
  readonly warnings: Diagnostic[] = [];
  readonly errors: Diagnostic[] = [];
  /** The line being translated. */
  src: SourceRef = { file: '', line: 0, text: '' };

  // ---- pending: copied by every service line ------------------------------------------
  auth?: Sourced<string[]>;
  acl: AclRule[] = [];
  maxconn?: number;
  backlog?: number;
  internal?: string;
  external: { v4?: string; v6?: string } = {};
  tls: TlsPending = {};
  readonly log: LogState = {};
  /** Plugin filters (`<plugin>.<name>`) the following service lines list (legacy pcre lines add them). */
  readonly filters: string[] = [];

  // ---- global ---------------------------------------------------------------------------
  readonly users = new Map<string, Sourced<string>>();
  readonly resolver: ResolverState = { servers: [], hosts: new Map() };
  readonly counters: { file?: Sourced<string>; report?: Sourced<{ every: string; file: string }>; rules: Sourced<Record<string, unknown>>[] } = {
    rules: [],
  };
  /** Top-level keys where the last command wins (parentRetries, pidfile, timeouts ...). */
  readonly scalars = new Map<string, Sourced<unknown>>();
  /** Top-level lists that grow (bandwidth, connectionLimits, monitor, plugins, usersFiles). */
  readonly lists = new Map<string, Sourced<unknown>[]>();
  readonly services: Sourced<ServiceOut>[] = [];
  /** Per service (parallel to `services`): the ACL entries and auth line it copied, for comments. */
  readonly serviceMeta: { rules: AclRule[]; auth?: SourceRef }[] = [];
  /** Every ACL entry ever created, to report dead ones and parent groups once. */
  readonly allRules: AclRule[] = [];
  /** Library names of `plugin` lines, so plugin commands (`transparent`) are known. */
  readonly plugins: string[] = [];
  readonly serviceNames = new Set<string>();
  /** Top-level sections built by plugin translators (regexFilter ...), in first-use order. */
  readonly pluginSections = new Map<string, Sourced<unknown>>();

  private commandTable: ReadonlyMap<string, PluginCommand> | null = null;

  /** @param loadPluginCommands the commands plugins translate (plugin-commands.ts), loaded on first need. */
  constructor(private readonly loadPluginCommands: () => ReadonlyMap<string, PluginCommand> = () => new Map()) {}

  /** Loading the plugins costs: only configs with a plugin line, a pcre line or an unknown command pay it. */
  get pluginCommands(): ReadonlyMap<string, PluginCommand> {
    return (this.commandTable ??= this.loadPluginCommands());
  }

  /** Records a warning at the current line (or `src`). `detail` fills or extends the text. */
  warn(code: WarningCode, detail?: string, src: SourceRef = this.src): void {
    const base: string = WARNINGS[code];
    let message: string;
    if (base.includes('%s')) message = base.replace('%s', detail ?? '');
    else message = detail === undefined ? base : `${base} (${detail})`;
    this.warnings.push({ file: src.file, line: src.line, code, message });
  }

  /** A line 3proxy would refuse: throws, the dispatcher records it at the current line. */
  fail(message: string): never {
    throw proxyError('PRX_ERR_CONVERT', message);
  }

  /** Stores `value` under a top-level key, remembering this line. */
  set(key: string, value: unknown): void {
    this.scalars.set(key, { value, src: this.src });
  }

  /** Appends to a top-level list. */
  push(key: string, value: unknown): void {
    const list = this.lists.get(key) ?? [];
    list.push({ value, src: this.src });
    this.lists.set(key, list);
  }

  sourced<T>(value: T): Sourced<T> {
    return { value, src: this.src };
  }

  /** The last ACL entry of the pending list, or undefined (3proxy walks conf.acl). */
  lastRule(): AclRule | undefined {
    return this.acl[this.acl.length - 1];
  }
}

/** Parses a decimal integer the strict way (3proxy's atoi would read garbage as 0). */
export function intArg(st: ConvertState, text: string | undefined, what: string): number {
  if (text === undefined || !/^-?\d+$/.test(text)) st.fail(`${what}: "${text ?? ''}" is not a number`);
  return Number(text);
}

/** `file:line: text`, the comment naming a source line. */
export function sourceComment(src: SourceRef): string {
  return `${src.file}:${src.line}: ${src.text}`;
}
