/**
 * Top-level config sections (CONFIG.md "YAML shape"). Each section is its own schema object;
 * `schemas/build.ts` assembles them with the operators, templates and plugin sections.
 */
import { ref } from './common';

const desc = (description: string, schema: Record<string, unknown>): Record<string, unknown> => ({ ...schema, description });
const everyEnum = ['never', 'minutely', 'hourly', 'daily', 'weekly', 'monthly', 'annually'];

export const sections: Record<string, Record<string, unknown>> = {
  version: { const: 1, description: 'Config format version; always 1.' },
  log: {
    type: 'object',
    additionalProperties: false,
    description: 'Server diagnostics (pino).',
    properties: {
      level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'Lowest level written.' },
      pretty: { type: 'boolean', default: false, description: 'Human-readable lines instead of JSON (slower).' },
      to: { type: 'string', default: 'stderr', description: 'stderr | stdout | a file path.' },
    },
  },
  accessLog: {
    type: 'object',
    additionalProperties: false,
    description: 'Default access log: one record per request (3proxy log/logformat).',
    properties: {
      to: { type: 'string', default: 'stdout', description: 'stdout | stderr | none | a file path with optional % date escapes. syslog: targets are refused (use stdout under journald or docker).' },
      format: { type: 'string', default: 'json', description: 'json, or a 3proxy logformat string.' },
      rotate: {
        type: 'object',
        additionalProperties: false,
        description: 'Rotation of a file access log (3proxy log FILE D). The file name is `to` with its % escapes expanded, else `to` plus a period suffix (.YYYY.MM.DD for daily).',
        properties: {
          every: { type: 'string', enum: everyEnum, description: 'Rotation period (local time); a new file is opened when it rolls over.' },
          keep: { type: 'integer', minimum: 0, description: 'Old files (archived or not) kept beside the current one; older ones are deleted (3proxy rotate N). Unset: none are deleted.' },
        },
      },
      archiver: {
        type: 'object',
        additionalProperties: false,
        required: ['ext'],
        description: '3proxy archiver: run on the file just closed by a rotation.',
        properties: {
          ext: { type: 'string', minLength: 1, description: 'Archive extension. "gz" without a command: built-in gzip (the old file is replaced by FILE.gz).' },
          command: { type: 'array', items: { type: 'string' }, description: 'Command and arguments, run without a shell; %A is the archive name (FILE.EXT), %F the old file. As in 3proxy, the command deletes the old file itself.' },
        },
      },
    },
  },
  resolver: {
    type: 'object',
    additionalProperties: false,
    description: 'Name resolution (3proxy nserver, nscache, nsrecord, fakeresolve).',
    properties: {
      servers: { type: 'array', items: { type: 'string' }, maxItems: 5, description: 'DNS servers "IP[:port][/tcp]", tried in order; empty = system resolver.' },
      cacheSize: { type: 'integer', minimum: 0, default: 65536, description: 'IPv4 name cache entries (nscache).' },
      cacheSize6: { type: 'integer', minimum: 0, default: 65536, description: 'IPv6 name cache entries (nscache6).' },
      hosts: { type: 'object', additionalProperties: { type: 'string' }, description: 'Static names (nsrecord); 0.0.0.0 blocks a name.' },
      fakeResolve: { type: 'boolean', description: 'Resolve every name to 127.0.0.2 (for "+" parents that resolve upstream).' },
      timeout: desc('DNS timeout (default 15s).', ref('duration')),
      authServer: { type: 'string', description: 'DNS server used only for dnsname auth (authnserver).' },
    },
  },
  users: {
    type: 'object',
    additionalProperties: { type: 'string' },
    description:
      'Users: name -> "CL:cleartext" | "CR:$1$..." (md5-crypt, $3$, bcrypt, $5$/$6$) | "NT:hex"; or { file: PATH }, a 3proxy users file ' +
      '(relative to the config). "file" is reserved for that form: it must be the only key and its value a path, not "TYPE:secret"; ' +
      'a user named "file" goes in a users file.',
    // `file` next to users, or with a stored-password value, is someone's user named "file":
    // refused rather than read either way.
    if: { required: ['file'] },
    then: {
      additionalProperties: false,
      properties: { file: { type: 'string', minLength: 1, pattern: '^(?!(CL|CR|NT):)' } },
    },
  },
  usersFiles: { type: 'array', items: { type: 'string' }, description: 'Files in 3proxy users format (name:TYPE:secret per line).' },
  authCache: {
    type: 'object',
    additionalProperties: false,
    description: 'Authentication cache (3proxy authcache).',
    properties: {
      keys: {
        type: 'array',
        items: { type: 'string', enum: ['ip', 'user', 'password', 'limit', 'acl', 'ext', 'dstaddr', 'dstport', 'dsthost', 'dstoper', 'srvaddr', 'srvport'] },
        description: 'Fields that form the cache key.',
      },
      ttl: desc('Entry lifetime (default 600s).', ref('duration')),
      size: { type: 'integer', minimum: 1, description: 'Maximum entries (default 262144).' },
    },
  },
  counters: {
    type: 'object',
    additionalProperties: false,
    description: 'Traffic counters and quotas (3proxy counter/countin/countout/countall).',
    properties: {
      file: { type: 'string', description: 'JSON file the counters persist to.' },
      saveInterval: desc('How often the counters file is written (default 60s, as 3proxy); also written on stop.', ref('duration')),
      report: {
        type: 'object',
        additionalProperties: false,
        description: 'Periodic text reports (3proxy counter FILE D|W|M|H REPORTNAME): one file per ended period, a line `NNNNN BYTES #comment` per numbered counter with the bytes it counted in that period.',
        required: ['every', 'file'],
        properties: {
          every: { type: 'string', enum: everyEnum, description: 'Report period (never: no reports).' },
          file: { type: 'string', description: 'Report file name, relative to the config file: % date escapes (%Y-%m-%d) expanded with the start of the period reported, else a period suffix is appended (NAME.2026.12.01 for daily).' },
        },
      },
      rules: {
        type: 'array',
        description: 'Counter rules; every matching rule applies until an exempt one.',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            id: { type: 'integer', minimum: 0, description: 'Counter number (0 = not persisted).' },
            comment: { type: 'string', description: 'Comment shown in reports.' },
            direction: { type: 'string', enum: ['in', 'out', 'all'], description: 'in: server to client, out: client to server, all: both.' },
            every: { type: 'string', enum: everyEnum, description: 'Reset period.' },
            limitMB: { type: 'number', exclusiveMinimum: 0, description: 'Limit in MiB.' },
            exempt: { type: 'boolean', description: 'nocount*: stop the walk for this direction.' },
            match: ref('match'),
          },
        },
      },
    },
  },
  bandwidth: {
    type: 'array',
    description: 'Bandwidth limits (3proxy bandlimin/bandlimout); one rule = one shared channel.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['direction'],
      properties: {
        direction: { type: 'string', enum: ['in', 'out'], description: 'in: server to client (download), out: upload.' },
        rate: desc('Rate; bits/s as a number, or "1MB/s".', ref('rate')),
        exempt: { type: 'boolean', description: 'nobandlim*: sessions matching are not limited by later rules.' },
        perUser: { type: 'boolean', description: 'One bucket per user instead of one shared bucket.' },
        match: ref('match'),
      },
    },
  },
  connectionLimits: {
    type: 'array',
    description: 'Connection limits (3proxy connlim/noconnlim); first matching rule applies.',
    items: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rate: { type: 'integer', minimum: 1, description: 'Connections allowed per period (concurrent when per is 0).' },
        per: desc('Period; 0s = concurrent connections.', ref('duration')),
        key: { type: 'string', enum: ['rule', 'source', 'user'], description: 'What is counted separately: the whole rule (3proxy), each source, each user.' },
        exempt: { type: 'boolean', description: 'noconnlim.' },
        match: ref('match'),
      },
    },
  },
  logDump: {
    type: 'object',
    additionalProperties: false,
    description: 'Interim access records for long sessions (3proxy logdump IN OUT): one each time a session has carried another `in` bytes from the server or `out` bytes to it, with the bytes so far.',
    properties: {
      in: desc('Bytes from the server between interim records (0 or unset: no threshold).', ref('size')),
      out: desc('Bytes to the server between interim records (0 or unset: no threshold).', ref('size')),
      interval: desc('How often a session\'s byte counts are checked (default 1s).', ref('duration')),
    },
  },
  radius: {
    type: 'object',
    additionalProperties: false,
    required: ['secret', 'servers'],
    description: 'RADIUS servers for `auth: [radius]` (3proxy radius SECRET servers).',
    properties: {
      secret: { type: 'string', minLength: 1, description: 'Shared secret.' },
      servers: {
        type: 'array',
        minItems: 1,
        maxItems: 5,
        description: 'Servers tried in order: "host[:port]" (auth port, default 1812; accounting = port + 1) or objects.',
        items: {
          anyOf: [
            { type: 'string', minLength: 1 },
            {
              type: 'object',
              additionalProperties: false,
              required: ['host'],
              properties: {
                host: { type: 'string', description: 'Server address.' },
                port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Authentication port (default 1812).' },
                accountingPort: { type: 'integer', minimum: 1, maximum: 65535, description: 'Accounting port (default port + 1).' },
              },
            },
          ],
        },
      },
      timeout: desc('Time to wait for each server (default 5s).', ref('duration')),
      accounting: { type: 'boolean', description: 'Send Accounting-Request start and stop records.' },
    },
  },
  parentRetries: { type: 'integer', minimum: 1, default: 2, description: 'Times the whole parent chain is tried (3proxy default 2).' },
  parentBackoff: desc('How long a parent that failed is skipped while its group has a healthy one (beyond 3proxy; default 30s, 0 = never skip).', ref('duration')),
  filterMaxSize: desc('Largest body handed to data filters (default 1MB).', ref('size')),
  mallocTrimThreshold: desc(
    "Free memory glibc malloc keeps mapped for reuse instead of returning it to the kernel after each garbage collection (M_TRIM_THRESHOLD; default and most 64MB; 0 = glibc's own 128KB). Read at start. Without it, relayed data can cost a page fault per 4 KB.",
    ref('size'),
  ),
  delimChar: { type: 'string', minLength: 1, maxLength: 1, description: 'Separator between login and host for the mail and FTP gateways (default @).' },
  reloadReauth: { type: 'boolean', default: true, description: 'After a reload, re-check live sessions against the new users and ACL (3proxy force/noforce).' },
  pidfile: { type: 'string', description: 'Write the process id here.' },
  setuid: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer', minimum: 1 }], description: 'Drop to this user (name or uid, not root) once every service listens; supplementary groups are dropped too. Failure exits 1.' },
  setgid: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer', minimum: 1 }], description: 'Drop to this group (name or gid, not root) once every service listens, before setuid. Failure exits 1.' },
  monitor: { type: 'array', items: { type: 'string' }, description: 'Files whose change triggers a reload.' },
  configPath: { type: 'string', description: 'Config file re-read on reload (3proxy config).' },
  shutdownTimeout: desc('How long live sessions may finish on SIGTERM before they are cut (default 10s).', ref('duration')),
  maxconn: { type: 'integer', minimum: 1, description: 'Global cap on concurrent client connections across services; beyond it new clients of any service wait (no error), as with a service maxconn.' },
  timeouts: {
    type: 'object',
    additionalProperties: false,
    description: "3proxy's global timeouts.",
    properties: Object.fromEntries(
      ['byteShort', 'byteLong', 'stringShort', 'stringLong', 'connectionShort', 'connectionLong', 'dns', 'chain', 'connect', 'connectBack', 'linger'].map((k) => [
        k,
        desc(`3proxy timeout ${k}.`, ref('duration')),
      ]),
    ),
  },
  plugins: {
    type: 'array',
    description: 'Plugins loaded in order.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['module'],
      properties: {
        module: { type: 'string', description: 'Path (relative to the config) or package name.' },
        options: { type: 'object', description: 'Passed to the plugin setup.' },
        optional: { type: 'boolean', description: 'Only warn when the plugin fails to load.' },
        timeout: desc('Setup timeout (default 10s).', ref('duration')),
      },
    },
  },
};

/** Keys every service entry may have, whatever its type. */
export const serviceCommonProperties: Record<string, Record<string, unknown>> = {
  name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', description: 'Unique service name (%N in custom log formats, metrics label).' },
  type: { type: 'string', description: 'Service template: proxy socks tcppm udppm pop3p smtpp imapp ftppr tlspr auto dnspr admin.' },
  listen: ref('listen'),
  external: {
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 2 }],
    description: 'Source address(es) for outgoing connections (3proxy -e); one IPv4 and/or one IPv6.',
  },
  egress: desc('Egress address pool for this service (beyond 3proxy); an ACL rule egress wins over it, it wins over external.', ref('egress')),
  target: desc('Fixed target host:port (tcppm, udppm).', ref('hostPort')),
  auth: {
    type: 'array',
    items: { type: 'string' },
    description: 'Auth chain, tried in order with 3proxy fall-through (none iponly useronly strong cache cacheacl dnsname radius, plugin methods). Default: [iponly].',
  },
  filters: {
    type: 'array',
    items: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_.-]+$' },
    uniqueItems: true,
    description: 'Plugin filters (<plugin>.<name>, 3proxy filter API) run on this service\'s connections, in this order; see docs/plugins.md.',
  },
  acl: { type: 'array', items: ref('aclRule'), description: 'Access rules; first match wins; empty = allow all; non-empty ends with an implicit deny.' },
  maxconn: { type: 'integer', minimum: 1, description: 'Concurrent clients (3proxy maxconn, default 500); more wait.' },
  backlog: { type: 'integer', minimum: 1, description: 'Clients held waiting beyond maxconn (default 1 + maxconn/8).' },
  timeouts: ref('timeouts'),
  accessLog: {
    type: 'object',
    additionalProperties: false,
    description: 'This service\'s access log (3proxy -l/-f), overriding the root accessLog.',
    properties: {
      to: { type: 'string', description: 'stdout | stderr | none | a file path (never rotated, as 3proxy -l). syslog: targets are refused (use stdout).' },
      format: { type: 'string', description: 'json or a 3proxy logformat string.' },
    },
  },
  tls: {
    type: 'object',
    description: 'TLS on the listener (HTTPS proxy, SOCKS over TLS): accepted connections must complete a TLS handshake first; files are read at load and on reload.',
    additionalProperties: false,
    properties: {
      cert: { type: 'string', description: 'PEM certificate chain file (required; relative to the config file).' },
      key: { type: 'string', description: 'PEM private key file, unencrypted (required; relative to the config file).' },
      ca: { type: 'string', description: 'PEM CA file that signs client certificates (mTLS; required with requestCert).' },
      requestCert: { type: 'boolean', description: 'Require a client certificate signed by ca; clients without one are refused.' },
      minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], description: 'Lowest TLS version.' },
      maxVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], description: 'Highest TLS version.' },
      ciphers: { type: 'string', description: 'OpenSSL cipher list.' },
      alpn: { type: 'array', items: { type: 'string' }, description: 'ALPN protocols offered.' },
    },
  },
  upstreamTls: desc('TLS from the proxy to the target (3proxy ssl_cli): the connection to the requested host, after any parent chain, is TLS, verified unless verify is false.', ref('tlsClient')),
  mitm: {
    type: 'object',
    description:
      'Intercept CONNECT tunnels (3proxy ssl_mitm): the client gets a certificate minted for the TLS server name and signed by ca; inner requests go through the pipeline as https:// requests. ACL rules choose with mitm: true/false (default: intercept). Clients must trust ca.',
    additionalProperties: false,
    required: ['ca'],
    properties: {
      ca: {
        type: 'object',
        additionalProperties: false,
        required: ['cert', 'key'],
        description: 'The CA that signs minted certificates (`rx3proxy ca` makes one; 3proxy ssl_server_ca_file, ssl_server_ca_key).',
        properties: {
          cert: { type: 'string', description: 'PEM CA certificate (relative to the config file).' },
          key: { type: 'string', description: 'PEM private key of the CA, unencrypted, EC or RSA.' },
        },
      },
      cacheDir: { type: 'string', description: 'Keep minted certificates and their key here across restarts (3proxy ssl_certcache); created 0700, key file 0600.' },
      cacheSize: { type: 'integer', minimum: 1, default: 1000, description: 'Minted certificates kept in memory (least recently used dropped first).' },
      origin: {
        type: 'object',
        additionalProperties: false,
        description: 'TLS towards the origin server.',
        properties: {
          verify: { type: 'boolean', default: true, description: 'Verify the origin certificate and name (false: 3proxy without ssl_client_verify; insecure).' },
          ca: { type: 'string', description: 'PEM CA file trusted for origins instead of the public roots (3proxy ssl_client_ca_file).' },
        },
      },
    },
  },
  pipeline: {
    type: 'array',
    minItems: 1,
    description: "Explicit pipeline steps instead of the template's; each step is { operatorName: options }.",
    items: { $ref: '#/$defs/step' },
  },
  options: { type: 'object', description: 'Type-specific flags; schema per template.' },
};

/** Flags every template accepts in `options:` (3proxy flags valid for all services). */
export const commonOptionProperties: Record<string, Record<string, unknown>> = {
  family: { type: 'string', enum: ['4', '6', '46', '64'], description: 'Resolve targets to IPv4/IPv6 only, or prefer one (3proxy -4 -6 -46 -64).' },
  happyEyeballs: { type: 'boolean', description: 'Race IPv4 and IPv6 addresses of a target or first parent (RFC 8305, beyond 3proxy); off by default.' },
  attemptDelay: desc('Happy Eyeballs: delay before the next address is tried (default 250ms).', ref('duration')),
  parentBackoff: desc("This service's parent back-off period, overriding the root parentBackoff (0 = never skip a failed parent).", ref('duration')),
  proxyProtocol: { type: 'boolean', description: 'Expect a PROXY protocol v1/v2 header from the client (3proxy -H).' },
  halfClose: { type: 'boolean', default: true, description: 'Relay TCP half-close (default); false ends the session when either side closes (3proxy -C).' },
  silent: { type: 'boolean', description: 'Do not log start, stop and accept errors (3proxy -t).' },
  bufferSize: { type: 'integer', minimum: 1024, description: 'Relay buffer size in bytes (3proxy -b).' },
  userAuth: { type: 'string', enum: ['auto', 'never', 'required'], description: 'Ask clients for credentials: never (3proxy -u), required (-u2).' },
  socketOptions: {
    type: 'object',
    additionalProperties: false,
    description: 'Socket options (3proxy -oc -os -ol).',
    properties: {
      client: { type: 'array', items: { type: 'string' }, description: 'Options for client sockets (TCP_NODELAY, SO_KEEPALIVE, ...).' },
      server: { type: 'array', items: { type: 'string' }, description: 'Options for outgoing sockets.' },
      listen: { type: 'array', items: { type: 'string' }, description: 'Options for the listening socket.' },
    },
  },
  bindDevice: {
    type: 'object',
    additionalProperties: false,
    description: 'Bind sockets to a network device (3proxy -Di/-De).',
    properties: {
      listen: { type: 'string', description: 'Device for the listener.' },
      outgoing: { type: 'string', description: 'Device for outgoing connections.' },
    },
  },
};
