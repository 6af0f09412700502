/**
 * Every error rx3proxy raises, in one place (fastify's lib/errors.js pattern).
 *
 * A `ProxyError` carries a stable `code` (`PRX_ERR_<AREA>_<WHAT>`, never reused once retired),
 * 3proxy's numeric result code (`legacyCode`, what `%E` prints), and hints for the protocol
 * responders: an HTTP status and a SOCKS5 reply byte. `spec/errors.spec.ts` checks that codes
 * are unique and that each one is documented in `docs/errors.md`.
 *
 * Nothing else in the code base throws a plain `Error`.
 */

/** Who caused a failure: client-caused refusals log at `info`, our own failures at `error`. */
export type Blame = 'client' | 'upstream' | 'config' | 'internal';

export interface ErrorSpec {
  /** 3proxy's %E number (0 = success, 1-10 auth/ACL, 11-19 connect, 90-97 relay, ...). */
  readonly legacy: number;
  /** Message template; `%s` placeholders are filled from the arguments in order. */
  readonly message: string;
  /** HTTP status the proxy service answers with (default derived from `legacy`). */
  readonly http?: number;
  /** SOCKS5 reply byte (default derived from `legacy` as 3proxy does). */
  readonly socks?: number;
  readonly blame: Blame;
}

const BRAND = Symbol.for('rx3proxy.ProxyError');

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly legacyCode: number;
  readonly httpStatus: number;
  readonly socksReply: number;
  readonly blame: Blame;
  /** Config errors: one entry per problem (file, line, column, pointer, message). */
  errors: readonly ConfigProblem[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; errors?: readonly ConfigProblem[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const spec = ERRORS[code];
    this.name = 'ProxyError';
    this.code = code;
    this.legacyCode = spec.legacy;
    this.httpStatus = spec.http ?? httpStatusFor(spec.legacy);
    this.socksReply = spec.socks ?? socksReplyFor(spec.legacy);
    this.blame = spec.blame;
    this.errors = options?.errors ?? [];
  }

  /** Brand check that survives jest realms and duplicated module copies (undici's trick). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}
Object.defineProperty(ProxyError.prototype, BRAND, { value: true });

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly pointer: string;
  readonly message: string;
}

/** `FILE:LINE:COL: /json/pointer: message`, the format `rx3proxy validate` prints. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.pointer || '/'}: ${p.message}`;
}

/** 3proxy's mapping of result codes to HTTP answers (inventory §9.2). */
export function httpStatusFor(legacy: number): number {
  if (legacy === 0) return 200;
  if (legacy === 1) return 403;
  if (legacy >= 2 && legacy <= 9) return 407;
  if (legacy === 10) return 503;
  if ((legacy >= 11 && legacy <= 19) || legacy === 100) return 502;
  if (legacy >= 20 && legacy <= 29) return 500;
  if (legacy >= 30 && legacy <= 79) return 502;
  if (legacy >= 511 && legacy <= 516) return 400;
  if (legacy === 517 || legacy === 519) return 503;
  if (legacy === 999) return 501;
  return 500;
}

/** 3proxy's mapping of result codes to SOCKS5 reply bytes (inventory §9.3). */
export function socksReplyFor(legacy: number): number {
  if (legacy === 0) return 0x00;
  if (legacy >= 1 && legacy <= 10) return 0x02;
  if (legacy >= 11 && legacy <= 19) return 0x05;
  if (legacy >= 20 && legacy <= 29) return 0x01;
  if ((legacy >= 30 && legacy <= 99) || legacy === 100) return 0x04;
  if (legacy === 997) return 0x08;
  return legacy % 10 === 0 ? 0x01 : legacy % 10;
}

const e = (legacy: number, message: string, blame: Blame, extra?: { http?: number; socks?: number }): ErrorSpec => ({
  legacy,
  message,
  blame,
  ...extra,
});

/**
 * The table. Grouped by area; add new codes at the end of their area. Retired codes stay
 * here with `(retired)` in the message and must not be reused.
 */
export const ERRORS = {
  // ---- config and startup -------------------------------------------------------------
  PRX_ERR_CONFIG_INVALID: e(0, 'invalid configuration: %s', 'config'),
  PRX_ERR_CONFIG_READ: e(0, 'cannot read config file %s: %s', 'config'),
  PRX_ERR_CONFIG_PARSE: e(0, 'cannot parse %s: %s', 'config'),
  PRX_ERR_CONFIG_VALUE: e(0, 'bad value %s: %s', 'config'),
  PRX_ERR_DUPLICATE_NAME: e(0, 'duplicate %s name "%s"', 'config'),
  PRX_ERR_UNKNOWN_NAME: e(0, 'unknown %s "%s"', 'config'),
  PRX_ERR_PIPELINE_SHAPE: e(0, 'bad pipeline: %s', 'config'),
  PRX_ERR_LISTEN: e(12, 'service "%s" cannot listen on %s: %s', 'config'),
  PRX_ERR_CONVERT: e(0, '%s', 'config'),
  PRX_ERR_USAGE: e(0, '%s', 'config'),

  // ---- plugins ------------------------------------------------------------------------
  PRX_ERR_PLUGIN_LOAD: e(0, 'plugin "%s" failed to load: %s', 'config'),
  PRX_ERR_PLUGIN_TIMEOUT: e(0, 'plugin "%s" setup did not finish within %s ms', 'config'),
  PRX_ERR_PLUGIN_DEPENDENCY: e(0, 'plugin "%s" needs plugin "%s", which is not loaded before it', 'config'),
  PRX_ERR_PLUGIN_INVALID: e(0, 'plugin "%s" is invalid: %s', 'config'),

  // ---- reading the request (generic) --------------------------------------------------
  PRX_ERR_REQUEST_TIMEOUT: e(92, 'client sent no complete request within the handshake timeout', 'client'),
  PRX_ERR_REQUEST_MALFORMED: e(511, 'malformed request: %s', 'client', { http: 400 }),
  PRX_ERR_REQUEST_TOO_LARGE: e(512, 'request header too large', 'client', { http: 431 }),
  PRX_ERR_REQUEST_EMPTY: e(507, 'client closed before sending a request', 'client'),
  PRX_ERR_REQUEST_RECURSION: e(519, 'request points at the proxy itself', 'client', { http: 503 }),
  PRX_ERR_NOT_IMPLEMENTED: e(999, 'not implemented: %s', 'client', { http: 501, socks: 0x07 }),
  PRX_ERR_FILTER_REJECT: e(517, 'request rejected by filter %s', 'client', { http: 503 }),
  PRX_ERR_FILTER_FAILED: e(19, 'filter %s failed: %s', 'internal'),
  PRX_ERR_FILTER_HANDLED: e(0, 'request answered by filter %s', 'client'),

  // ---- authentication and ACL (3proxy 1-10) -------------------------------------------
  PRX_ERR_ACL_DENIED: e(1, 'access denied by ACL rule %s', 'client'),
  PRX_ERR_ACL_NO_MATCH: e(3, 'no ACL rule matched', 'client'),
  PRX_ERR_AUTH_REQUIRED: e(4, 'authentication required', 'client'),
  PRX_ERR_AUTH_UNKNOWN_USER: e(5, 'unknown user "%s"', 'client'),
  PRX_ERR_AUTH_BAD_PASSWORD: e(6, 'wrong password for user "%s"', 'client'),
  PRX_ERR_AUTH_BAD_CRYPT: e(7, 'wrong password for user "%s" (CR)', 'client'),
  PRX_ERR_AUTH_BAD_NT: e(8, 'wrong password for user "%s" (NT)', 'client'),
  PRX_ERR_AUTH_FAILED: e(9, 'authentication failed: %s', 'client'),
  PRX_ERR_AUTH_BACKEND: e(9, 'authentication backend failed: %s', 'upstream'),
  PRX_ERR_LIMIT_EXCEEDED: e(10, 'limit exceeded: %s', 'client', { http: 503 }),
  PRX_ERR_QUOTA_EXCEEDED: e(10, 'traffic quota exceeded: %s', 'client', { http: 503 }),
  PRX_ERR_CONNLIM_EXCEEDED: e(10, 'connection rate limit exceeded: %s', 'client', { http: 503 }),
  PRX_ERR_AUTH_DNSNAME: e(3, 'client %s has no DNS name confirmed by a forward lookup', 'client'),
  PRX_ERR_AUTH_RADIUS_REJECT: e(4, 'RADIUS rejected user "%s"%s', 'client'),
  PRX_ERR_AUTH_RADIUS_TIMEOUT: e(4, 'no RADIUS server answered for user "%s"', 'upstream'),

  // ---- connecting (3proxy 11-19, 100) -------------------------------------------------
  PRX_ERR_CONNECT_SOCKET: e(11, 'cannot create socket: %s', 'internal'),
  PRX_ERR_CONNECT_BIND: e(12, 'cannot bind outgoing address %s: %s', 'internal'),
  PRX_ERR_CONNECT_REFUSED: e(13, 'connection to %s refused', 'upstream'),
  PRX_ERR_CONNECT_TIMEOUT: e(13, 'connection to %s timed out', 'upstream', { http: 504, socks: 0x04 }),
  PRX_ERR_CONNECT_UNREACHABLE: e(13, 'network unreachable for %s: %s', 'upstream', { socks: 0x03 }),
  PRX_ERR_CONNECT_HOST_UNREACHABLE: e(13, 'host unreachable: %s', 'upstream', { socks: 0x04 }),
  PRX_ERR_CONNECT_FAILED: e(13, 'cannot connect to %s: %s', 'upstream'),
  PRX_ERR_DNS_NOT_FOUND: e(100, 'host not found: %s', 'upstream', { socks: 0x04 }),
  PRX_ERR_DNS_TIMEOUT: e(100, 'name resolution timed out: %s', 'upstream', { http: 504, socks: 0x04 }),
  PRX_ERR_DNS_FAILED: e(100, 'name resolution failed for %s: %s', 'upstream', { socks: 0x04 }),
  PRX_ERR_ADDRESS_FAMILY: e(997, 'address family not allowed: %s', 'client', { socks: 0x08, http: 502 }),
  PRX_ERR_UPSTREAM_TLS_HANDSHAKE: e(8011, 'TLS handshake with %s failed: %s', 'upstream', { http: 502 }),
  PRX_ERR_UPSTREAM_TLS_VERIFY: e(8011, 'certificate of %s not verified: %s', 'upstream', { http: 502 }),

  // ---- parents (3proxy 30-79) ---------------------------------------------------------
  PRX_ERR_PARENT_CONNECT_SEND: e(31, 'parent %s: cannot send CONNECT', 'upstream'),
  PRX_ERR_PARENT_CONNECT_REPLY: e(32, 'parent %s: bad or no reply to CONNECT', 'upstream'),
  PRX_ERR_PARENT_CONNECT_REFUSED: e(33, 'parent %s refused CONNECT: %s', 'upstream'),
  PRX_ERR_PARENT_CONNECT_HEADER: e(34, 'parent %s: cannot read reply header', 'upstream'),
  PRX_ERR_PARENT_SOCKS4: e(41, 'SOCKS4 parent %s: %s', 'upstream'),
  PRX_ERR_PARENT_SOCKS4_REFUSED: e(43, 'SOCKS4 parent %s refused the request', 'upstream'),
  PRX_ERR_PARENT_SOCKS4_IPV6: e(44, 'SOCKS4 parent %s cannot reach IPv6 %s', 'upstream'),
  PRX_ERR_PARENT_SOCKS5: e(51, 'SOCKS5 parent %s: %s', 'upstream'),
  PRX_ERR_PARENT_SOCKS5_AUTH: e(55, 'SOCKS5 parent %s rejected the credentials', 'upstream'),
  PRX_ERR_PARENT_SOCKS5_REFUSED: e(60, 'SOCKS5 parent %s refused: reply %s', 'upstream'),
  PRX_ERR_PARENT_UDP: e(70, 'UDP needs a SOCKS5 parent, got %s', 'config'),
  PRX_ERR_PARENT_TIMEOUT: e(13, 'parent %s timed out', 'upstream', { http: 504 }),
  PRX_ERR_PARENT_TLS_HANDSHAKE: e(71, 'TLS handshake with parent %s failed: %s', 'upstream'),
  PRX_ERR_PARENT_TLS_VERIFY: e(72, 'certificate of parent %s not verified: %s', 'upstream'),

  // ---- relaying (3proxy 90-99) --------------------------------------------------------
  PRX_ERR_RELAY_FAILED: e(90, 'relay failed: %s', 'internal'),
  PRX_ERR_IDLE_TIMEOUT: e(92, 'idle timeout after %s ms', 'client'),
  PRX_ERR_BANDWIDTH_TIMEOUT: e(93, 'bandwidth delay longer than the idle timeout', 'client'),
  PRX_ERR_CLIENT_RESET: e(95, 'client closed the connection abnormally: %s', 'client'),
  PRX_ERR_SERVER_RESET: e(96, 'server closed the connection abnormally: %s', 'upstream'),
  PRX_ERR_BOTH_RESET: e(97, 'both sides closed abnormally', 'upstream'),
  PRX_ERR_SESSION_KILLED: e(90, 'session closed: %s', 'internal'),
  PRX_ERR_SHUTDOWN: e(90, 'session cut by shutdown', 'internal'),

  // ---- HTTP proxy (3proxy 500-599, 700-799) -------------------------------------------
  PRX_ERR_HTTP_BAD_REQUEST: e(513, 'bad HTTP request: %s', 'client', { http: 400 }),
  PRX_ERR_HTTP_BAD_URL: e(514, 'bad URL: %s', 'client', { http: 400 }),
  PRX_ERR_HTTP_UNSUPPORTED_SCHEME: e(515, 'unsupported URL scheme: %s', 'client', { http: 501 }),
  PRX_ERR_HTTP_UPSTREAM_SEND: e(518, 'cannot send request upstream: %s', 'upstream', { http: 502 }),
  PRX_ERR_HTTP_BAD_RESPONSE: e(521, 'bad response from upstream: %s', 'upstream', { http: 502 }),
  PRX_ERR_HTTP_UPSTREAM_TIMEOUT: e(522, 'upstream did not answer in time', 'upstream', { http: 504 }),
  PRX_ERR_FTP_LOGIN: e(700, 'FTP login refused: %s', 'upstream', { http: 401 }),
  PRX_ERR_FTP_NOT_FOUND: e(780, 'FTP file not found: %s', 'upstream', { http: 404 }),
  PRX_ERR_FTP_FAILED: e(702, 'FTP transfer failed: %s', 'upstream', { http: 502 }),

  // ---- SOCKS (3proxy 400-499) ---------------------------------------------------------
  PRX_ERR_SOCKS_VERSION: e(401, 'unsupported SOCKS version %s', 'client', { socks: 0x01 }),
  PRX_ERR_SOCKS_COMMAND: e(407, 'unsupported SOCKS command %s', 'client', { socks: 0x07 }),
  PRX_ERR_SOCKS_TRUNCATED: e(441, 'truncated SOCKS request', 'client', { socks: 0x01 }),
  PRX_ERR_SOCKS_NO_METHOD: e(4, 'no acceptable SOCKS authentication method', 'client', { socks: 0xff }),
  PRX_ERR_SOCKS_ADDRESS_TYPE: e(997, 'unsupported SOCKS address type %s', 'client', { socks: 0x08 }),
  PRX_ERR_SOCKS_BAD_NAME: e(431, 'bad host name in SOCKS request', 'client', { socks: 0x01 }),
  PRX_ERR_SOCKS_BIND_TIMEOUT: e(460, 'no peer connected to the BIND port in time', 'upstream', { socks: 0x06 }),
  PRX_ERR_SOCKS_BIND_PEER: e(470, 'BIND peer %s is not the expected host', 'upstream', { socks: 0x02 }),
  PRX_ERR_SOCKS_UDP_FRAGMENT: e(442, 'fragmented SOCKS UDP datagram dropped', 'client'),
  PRX_ERR_SOCKS_UDP_STRANGER: e(443, 'SOCKS UDP datagram from %s dropped: not the associated client', 'client'),

  // ---- port mappers, TLS proxy (200-399) ----------------------------------------------
  PRX_ERR_UDP_FAILED: e(200, 'UDP relay failed: %s', 'internal'),
  PRX_ERR_TLS_NO_HELLO: e(310, 'client did not send a TLS ClientHello', 'client'),
  PRX_ERR_TLS_NO_SNI: e(311, 'TLS ClientHello carries no server name', 'client'),
  PRX_ERR_TLS_CHECK: e(340, 'TLS check failed: %s', 'upstream'),
  PRX_ERR_TLS_HANDSHAKE: e(360, 'TLS handshake failed: %s', 'upstream'),
  PRX_ERR_TLS_VERIFY: e(370, 'TLS certificate not verified: %s', 'upstream'),
  PRX_ERR_TLS_CLIENT_CERT: e(375, 'TLS client sent no certificate (check level 4)', 'client'),
  PRX_ERR_TLS_NO_STARTTLS: e(320, 'client did not ask for STARTTLS: %s', 'client'),
  PRX_ERR_TLS_UPSTREAM_STARTTLS: e(330, 'server refused STARTTLS: %s', 'upstream'),

  PRX_ERR_MITM_CLIENT_HANDSHAKE: e(8012, 'MITM: TLS handshake with the client failed: %s', 'client'),
  PRX_ERR_MITM_CERT: e(8012, 'MITM: cannot issue a certificate: %s', 'config', { http: 502 }),
  PRX_ERR_MITM_ORIGIN_VERIFY: e(8011, 'MITM: the origin certificate does not verify: %s', 'upstream', { http: 502 }),
  PRX_ERR_MITM_ORIGIN_HANDSHAKE: e(8011, 'MITM: TLS handshake with the origin failed: %s', 'upstream', { http: 502 }),
  PRX_ERR_MITM_UNSUPPORTED: e(8014, 'MITM: %s is not supported inside an intercepted tunnel', 'client', { http: 501 }),

  // ---- mail, FTP, DNS, admin (600-899) ------------------------------------------------
  PRX_ERR_MAIL_PROTOCOL: e(610, 'mail protocol error: %s', 'client'),
  PRX_ERR_MAIL_NO_HOST: e(611, 'login does not name a server (user@host)', 'client'),
  PRX_ERR_MAIL_UPSTREAM: e(620, 'mail server error: %s', 'upstream'),
  PRX_ERR_POP3_NO_USER: e(612, 'POP3 client closed before sending USER', 'client'),
  PRX_ERR_POP3_NO_HOST: e(615, 'POP3 USER does not name a server (user@host[:port])', 'client'),
  PRX_ERR_POP3_NO_GREETING: e(621, 'POP3 server closed without a greeting', 'upstream'),
  PRX_ERR_POP3_BAD_GREETING: e(622, 'POP3 server greeting is not +OK (or is a proxy): %s', 'upstream'),
  PRX_ERR_SMTP_NO_AUTH: e(662, 'SMTP client closed before AUTH PLAIN or AUTH LOGIN', 'client'),
  PRX_ERR_SMTP_BAD_AUTH: e(668, 'bad SMTP AUTH %s: %s', 'client'),
  PRX_ERR_SMTP_NO_HOST: e(100, 'SMTP AUTH user does not name a server (user@host[:port])', 'client'),
  PRX_ERR_SMTP_NO_GREETING: e(671, 'SMTP server closed without a greeting', 'upstream'),
  PRX_ERR_SMTP_BAD_GREETING: e(672, 'SMTP server did not greet with 220 or refused EHLO (or is a proxy): %s', 'upstream'),
  PRX_ERR_SMTP_UPSTREAM_AUTH: e(680, 'SMTP server refused AUTH %s: %s', 'upstream'),
  PRX_ERR_IMAP_BAD_COMMAND: e(692, 'bad IMAP command line before login: %s', 'client'),
  PRX_ERR_IMAP_BAD_LOGIN: e(693, 'bad IMAP %s: %s', 'client'),
  PRX_ERR_IMAP_NO_HOST: e(694, 'IMAP login does not name a server (user@host[:port])', 'client'),
  PRX_ERR_IMAP_NO_GREETING: e(695, 'IMAP server closed without a greeting', 'upstream'),
  PRX_ERR_IMAP_BAD_GREETING: e(696, 'IMAP server greeting is not * OK: %s', 'upstream'),
  PRX_ERR_IMAP_CAPABILITY: e(697, 'IMAP server refused CAPABILITY: %s', 'upstream'),
  PRX_ERR_IMAP_UPSTREAM_LOGIN: e(699, 'IMAP server refused %s: %s', 'upstream'),
  PRX_ERR_FTP_PROTOCOL: e(810, 'FTP protocol error: %s', 'client'),
  PRX_ERR_FTP_UPSTREAM: e(820, 'FTP server error: %s', 'upstream', { http: 502 }),
  PRX_ERR_DNS_PACKET: e(813, 'malformed DNS packet: %s', 'client'),
  PRX_ERR_DNS_UPSTREAM: e(820, 'DNS upstream failed: %s', 'upstream'),
  PRX_ERR_AUTO_NO_BYTE: e(801, 'client sent nothing to detect the protocol from', 'client'),
  PRX_ERR_ADMIN_FORBIDDEN: e(1, 'admin access denied', 'client', { http: 403 }),
  PRX_ERR_FTP_NO_LOGIN: e(802, 'FTP client closed before logging in', 'client'),
  PRX_ERR_FTP_NO_HOST: e(804, 'FTP USER does not name a server (user@host[:port])', 'client'),
  PRX_ERR_FTP_DATA_FAILED: e(826, 'FTP data connection failed: %s', 'upstream', { http: 502 }),
  PRX_ERR_FTP_DATA_TIMEOUT: e(857, 'FTP data connection not opened in time: %s', 'client', { http: 504 }),

  // ---- generic internal ---------------------------------------------------------------
  PRX_ERR_INTERNAL: e(21, 'internal error: %s', 'internal'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Builds a ProxyError from the table, filling `%s` in order. */
export function proxyError(code: ErrorCode, ...args: unknown[]): ProxyError {
  let i = 0;
  const message = ERRORS[code].message.replace(/%s/g, () => (i < args.length ? String(args[i++]) : ''));
  return new ProxyError(code, message);
}

/** Same as proxyError, keeping the original failure as `cause`. */
export function proxyErrorFrom(code: ErrorCode, cause: unknown, ...args: unknown[]): ProxyError {
  const err = proxyError(code, ...args);
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  return err;
}

/** Anything thrown inside a pipeline becomes a ProxyError; unknown throws are internal errors. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return proxyErrorFrom('PRX_ERR_INTERNAL', err, err instanceof Error ? err.message : String(err));
}

/** Warnings carry codes too (`PRXWRN001`), printed by `validate` and `convert`. */
export const WARNINGS = {
  PRXWRN001: 'auth is "none": ACL rules are ignored (3proxy semantics)',
  PRXWRN002: 'auth cache after "strong": with key "user" any password is accepted for a recently seen user',
  PRXWRN003: 'ACL ends without an explicit deny: unmatched HTTP requests get 407 (3proxy semantics)',
  PRXWRN004: 'legacy command has no effect here: %s',
  PRXWRN005: 'log set after the service it was probably meant for',
  PRXWRN006: 'parent weights sum to less than 1000: some requests go out directly',
  PRXWRN007: '%s',
} as const;
export type WarningCode = keyof typeof WARNINGS;
