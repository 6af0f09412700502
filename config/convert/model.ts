/**
 * Types shared by the legacy converter: diagnostics, source references and the YAML-shaped
 * pieces the translators build (CONFIG.md "YAML shape"; names fixed by the architect).
 */

/** One converter finding. `code` is a PRXWRN00x warning code when the finding has one. */
export interface Diagnostic {
  readonly file: string;
  readonly line: number;
  readonly code?: string;
  readonly message: string;
}

/** Where a command came from: file, 1-based line, and the line as written (for YAML comments). */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** An ACE (3proxy access control entry) as YAML `match:`; `*` fields are omitted. */
export interface Match {
  users?: string[];
  sources?: string[];
  targets?: string[];
  ports?: (number | string)[];
  operations?: string[];
  weekdays?: (number | string)[];
  times?: string[];
}

/** One `parent` hop candidate. */
export interface Parent {
  weight: number;
  type: string;
  host: string;
  port: number;
  user?: string;
  password?: string;
}

/** An ACL entry while the script runs; emitted as `{ allow | deny | redirect, parents?, ... }`. */
export interface AclRule {
  action: 'allow' | 'deny' | 'redirect';
  match: Match;
  /** `redirect IP PORT`: the entry's own http hop. */
  redirect?: { host: string; port: number };
  parents: { parent: Parent; src: SourceRef }[];
  nolog?: boolean;
  weight?: number;
  src: SourceRef;
  /** A service took a snapshot containing this entry (else it is dead config). */
  used: boolean;
}

/** Access-log target and format in force (3proxy `log` / `logformat`, or `-l` / `-f`). */
export interface LogSetting {
  to: string;
  format?: string;
}

/** A YAML service entry; key order here is the emitted order. */
export interface ServiceOut {
  name: string;
  type: string;
  listen: string;
  external?: string | string[];
  target?: string;
  auth: string[];
  acl?: Record<string, unknown>[];
  maxconn?: number;
  backlog?: number;
  accessLog?: LogSetting;
  tls?: Record<string, unknown>;
  upstreamTls?: Record<string, unknown>;
  mitm?: Record<string, unknown>;
  options?: Record<string, unknown>;
  filters?: string[];
}

/** A limiter/counter rule with its source line, for comments. */
export interface Sourced<T> {
  readonly value: T;
  readonly src: SourceRef;
}

/** 3proxy's default log format, used when `log` is set without `logformat` (inventory §4.3). */
export const DEFAULT_LOG_FORMAT = 'G%y%m%d%H%M%S.%. %p %E %U %C:%c %R:%r %O %I %h %T';

/** 3proxy rotation letters (conf.c getrotate) to YAML periods; anything else never rotates. */
export function period(letter: string | undefined): string {
  switch ((letter ?? '').charAt(0).toLowerCase()) {
    case 'c':
      return 'minutely';
    case 'h':
      return 'hourly';
    case 'd':
      return 'daily';
    case 'w':
      return 'weekly';
    case 'm':
      return 'monthly';
    case 'y':
      return 'annually';
    default:
      return 'never';
  }
}

/** Bytes as a readable size string (`1MB`, `64KB`, `1000B`). */
export function sizeString(bytes: number): string {
  if (bytes > 0 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MB`;
  if (bytes > 0 && bytes % 1024 === 0) return `${bytes / 1024}KB`;
  return `${bytes}B`;
}
