/**
 * Shared schema pieces ($defs): durations, sizes, rates, addresses, the ACL `match` object,
 * parents and ACL rules. Operators, sections and templates `$ref` these as
 * `rx3proxy:common#/$defs/<name>`. Every property has a description (a test checks it).
 */
import { DURATION_PATTERN, SIZE_PATTERN, RATE_PATTERN } from '../config/units';
import { OPERATIONS } from '../core/session';

export const COMMON_ID = 'rx3proxy:common';
/** A reference to a shared definition; all $defs live in the root schema, so refs are local. */
export const ref = (name: string): { $ref: string } => ({ $ref: `#/$defs/${name}` });

const stringList = (description: string): Record<string, unknown> => ({
  type: 'array',
  items: { type: 'string' },
  description,
});

export const PARENT_TYPES = [
  'tcp', 'http', 'connect', 'connect+', 'socks4', 'socks4+', 'socks4b', 'socks5', 'socks5+', 'socks5b',
  'extip', 'ha', 'pop3', 'smtp', 'ftp', 'imap', 'admin', 'tls', 'dns',
  'https', 'connects', 'connect+s', 'socks4s', 'socks4+s', 'socks5s', 'socks5+s', 'tcps',
] as const;

export const commonSchema = {
  $id: COMMON_ID,
  $defs: {
    duration: { type: 'string', pattern: DURATION_PATTERN, description: 'A duration: 1500ms, 10s, 5m, 2h, 1d (bare number = seconds).' },
    size: {
      anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: SIZE_PATTERN }],
      description: 'A size in bytes, or with a unit: 64KB, 1MB (binary multiples).',
    },
    rate: {
      anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: RATE_PATTERN }],
      description: 'A rate: bits per second as a number (3proxy bandlim), or a string like 1MB/s, 8Mbit/s.',
    },
    port: { type: 'integer', minimum: 0, maximum: 65535, description: 'A TCP/UDP port.' },
    hostPort: { type: 'string', minLength: 1, description: 'host:port, [ipv6]:port or unix:/path.' },
    listen: {
      anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string', minLength: 1 }],
      description: 'PORT | HOST:PORT | [V6]:PORT | unix:/path; port 0 = ephemeral.',
    },
    match: {
      type: 'object',
      additionalProperties: false,
      description: 'ACL entry fields (3proxy ACE); an omitted field or "*" matches anything.',
      properties: {
        users: stringList('User names, case-sensitive; "*" wildcards allowed; "-" matches requests without a user.'),
        sources: stringList('Client addresses: IP, CIDR (10.0.0.0/8) or range (10.0.0.1-10.0.0.9), IPv4 or IPv6.'),
        targets: stringList('Targets: IP, CIDR, range, or host patterns (name, *.suffix, prefix*, *middle*).'),
        ports: {
          type: 'array',
          items: { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string', pattern: '^(\\*|\\d+(-\\d+)?)$' }] },
          description: 'Target ports and ranges: 80, "8000-8100".',
        },
        operations: {
          type: 'array',
          items: { type: 'string', enum: [...OPERATIONS, 'HTTP', 'HTTPS', 'FTP', '*'] },
          description: 'Operations (3proxy list); HTTP = all HTTP_* but CONNECT, HTTPS = HTTP_CONNECT, FTP = FTP_*.',
        },
        weekdays: {
          type: 'array',
          items: { anyOf: [{ type: 'integer', minimum: 0, maximum: 7 }, { type: 'string', pattern: '^(\\*|[0-7](-[0-7])?)$' }] },
          description: 'Weekdays 0-7 (0 and 7 are Sunday), ranges like "1-5".',
        },
        times: {
          type: 'array',
          items: { type: 'string', pattern: '^(\\*|\\d\\d:\\d\\d:\\d\\d-\\d\\d:\\d\\d:\\d\\d)$' },
          description: 'Local time windows HH:MM:SS-HH:MM:SS, half-open, not wrapping midnight.',
        },
      },
    },
    tlsClient: {
      type: 'object',
      additionalProperties: false,
      description: 'TLS from the proxy to a parent or a server; the certificate is verified unless verify is false. Files are read at load and on reload, relative to the config file.',
      properties: {
        ca: { type: 'string', description: 'PEM CA bundle the peer certificate must chain to (default: the public roots Node ships).' },
        verify: { type: 'boolean', default: true, description: 'Check the certificate chain and name; false accepts any certificate (3proxy without ssl_client_verify).' },
        servername: { type: 'string', description: 'Name sent as SNI and checked against the certificate (default: the host being reached; an IP address is checked against IP SANs and sends no SNI).' },
        alpn: { type: 'array', items: { type: 'string' }, description: 'ALPN protocols offered (3proxy ssl_client_alpn).' },
        cert: { type: 'string', description: 'PEM client certificate for mutual TLS (with key).' },
        key: { type: 'string', description: 'PEM private key of the client certificate, unencrypted.' },
        minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], description: 'Lowest TLS version.' },
        maxVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], description: 'Highest TLS version.' },
        ciphers: { type: 'string', description: 'OpenSSL cipher list (TLS 1.3 suites may be included).' },
      },
    },
    parent: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'host', 'port'],
      description: 'One parent hop candidate (3proxy `parent WEIGHT TYPE HOST PORT [USER [PASS]]`).',
      properties: {
        weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1000, description: 'Weight in its group; consecutive parents form groups summing to 1000, one hop is drawn per group.' },
        type: { type: 'string', enum: [...PARENT_TYPES], description: 'Hop type (tcp, http, connect, connect+, socks4, socks4+, socks5, socks5+, extip, ha, ...; an "s" suffix means TLS to the parent).' },
        host: { type: 'string', description: 'Parent host or address; 0.0.0.0 keeps the requested address; may carry /prefix for extip.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, description: 'Parent port; 0 keeps the requested port.' },
        user: { type: 'string', description: 'User name for the parent; "*" passes the client\'s own credentials on.' },
        password: { type: 'string', description: 'Password for the parent.' },
        proxyProtocol: {
          type: 'integer',
          enum: [1, 2],
          description: 'PROXY protocol version to send: on an `ha` entry the header to the next hop is v1 (default) or v2 (binary); on a `tcp` entry a header of this version is sent to that host first.',
        },
        tls: { $ref: '#/$defs/tlsClient', description: 'TLS settings for a hop whose type ends in "s" (https, connects, socks5s, ...): CA, SNI, ALPN, client certificate.' },
      },
    },
    aclRule: {
      type: 'object',
      description: 'One ACL entry: exactly one of allow, deny, redirect.',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        allow: { $ref: '#/$defs/match', description: 'Allow requests that match.' },
        deny: { $ref: '#/$defs/match', description: 'Deny requests that match (3proxy code 1, HTTP 403).' },
        redirect: {
          type: 'object',
          additionalProperties: false,
          required: ['host', 'port'],
          description: 'Allow and send to an HTTP proxy (3proxy `redirect IP PORT`).',
          properties: {
            host: { type: 'string', description: 'Redirect host; 0.0.0.0 with port 0 hands the request to a local handler.' },
            port: { type: 'integer', minimum: 0, maximum: 65535, description: 'Redirect port.' },
            match: { $ref: '#/$defs/match', description: 'Requests the redirect applies to.' },
          },
        },
        parents: { type: 'array', items: { $ref: '#/$defs/parent' }, description: 'Parent chain candidates for an allow (3proxy `parent` lines).' },
        egress: { $ref: '#/$defs/egress', description: 'Source addresses for requests this rule allows (beyond 3proxy; wins over the service egress and external).' },
        nolog: { type: 'boolean', description: 'Do not write access records for requests matching this rule.' },
        mitm: { type: 'boolean', description: 'For a service with a mitm: block: intercept (true, the default) or tunnel untouched (false) the CONNECT requests this allow admits.' },
        weight: { type: 'integer', minimum: 0, description: '3proxy `weight`: the entry matches only requests whose weight is at most this.' },
      },
      oneOf: [{ required: ['allow'] }, { required: ['deny'] }, { required: ['redirect'] }],
    },
    egress: {
      type: 'object',
      additionalProperties: false,
      required: ['pool'],
      description: 'Egress address pool (beyond 3proxy): each outgoing connection takes its source address from the entries of its family.',
      properties: {
        pool: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', minLength: 1 },
          description: 'IPv4/IPv6 addresses, or ADDRESS/LENGTH prefixes (a random address inside per connection).',
        },
        sticky: { type: 'boolean', description: 'Same user (or, without one, same client address) -> same entry and same address in a prefix.' },
      },
    },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      description: 'Per-service timeouts.',
      properties: {
        handshake: { $ref: '#/$defs/duration', description: 'Time to receive a complete request (default 30s).' },
        idle: { $ref: '#/$defs/duration', description: 'Close a session with no data either way for this long (default 10m).' },
        connect: { $ref: '#/$defs/duration', description: 'Outgoing connect timeout (default 15s).' },
      },
    },
  },
} as const;
