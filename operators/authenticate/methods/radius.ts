/**
 * `radius` (3proxy radauth): the credentials go to RADIUS servers; Access-Accept -> ok (a
 * Framed-IP becomes the session's outgoing address), then the ACL. With `accounting: true`
 * (3proxy: `log radius`) an Accounting Start follows an accept and a Stop with the byte counts
 * is sent when the session ends.
 *
 * Settings: the root `radius:` section `{ secret, servers: ["host:port" | {host, port,
 * accountingPort}], timeout, accounting }` (ports default 1812/1813), or a RadiusClient in
 * env.symbols under 'auth.radius.client' (tests, embedders).
 */
import { proxyError } from '../../../core/errors';
import { parseDuration } from '../../../config/units';
import { RadiusClient, type RadiusRequest, type RadiusServer } from '../../../core/auth/radius';
import type { Session } from '../../../core/session';
import type { Env } from '../../../core/env';
import type { MethodFactory } from '../types';

export const RADIUS_CLIENT_SYMBOL = 'auth.radius.client';

/** 3proxy's operation bits (structures.h), sent as Login-Service. */
const OPERATION_BITS: Readonly<Record<string, number>> = {
  CONNECT: 0x1,
  BIND: 0x2,
  UDPASSOC: 0x4,
  ICMPASSOC: 0x8,
  HTTP_GET: 0x100,
  HTTP_PUT: 0x200,
  HTTP_POST: 0x400,
  HTTP_HEAD: 0x800,
  HTTP_CONNECT: 0x1000,
  HTTP_OTHER: 0x8000,
  FTP_GET: 0x10000,
  FTP_PUT: 0x20000,
  FTP_LIST: 0x40000,
  FTP_DATA: 0x80000,
  DNSRESOLVE: 0x100000,
  ADMIN: 0x1000000,
};

interface RadiusConfig {
  secret?: string;
  servers?: (string | { host: string; port?: number; accountingPort?: number })[];
  timeout?: string | number;
  accounting?: boolean;
}

function server(s: string | { host: string; port?: number; accountingPort?: number }): RadiusServer {
  if (typeof s !== 'string') return { host: s.host, port: s.port ?? 1812, accountingPort: s.accountingPort ?? (s.port ?? 1812) + 1 };
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(s);
  const port = m?.[2] === undefined ? 1812 : Number(m[2]);
  return { host: m?.[1] ?? s, port, accountingPort: port + 1 };
}

function clientFor(env: Env, cfg: RadiusConfig): RadiusClient {
  const given = env.symbols.get(RADIUS_CLIENT_SYMBOL);
  if (given instanceof RadiusClient) return given;
  if (cfg.secret === undefined || (cfg.servers ?? []).length === 0) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', '/radius', 'auth "radius" needs radius: { secret, servers }');
  }
  return new RadiusClient({ secret: cfg.secret, servers: (cfg.servers ?? []).map(server), timeoutMs: parseDuration(cfg.timeout ?? '5s') });
}

function radiusRequest(s: Session): RadiusRequest {
  const r = s.request;
  return {
    user: s.user ?? '',
    password: s.password,
    sessionId: `${s.startedAt}.${s.id}`,
    clientAddress: s.connection.clientAddress,
    localAddress: s.connection.localAddress,
    servicePort: s.connection.localPort,
    nasIdentifier: s.service.logName,
    targetHost: r.host,
    targetAddress: r.address,
    targetPort: r.port,
    operationBit: OPERATION_BITS[r.operation] ?? 0,
  };
}

export const radius: MethodFactory = (ctx) => {
  const cfg = (ctx.env.config['radius'] ?? {}) as RadiusConfig;
  const client = clientFor(ctx.env, cfg);
  return {
    name: 'radius',
    async authenticate(s, signal) {
      if (s.user === null) return proxyError('PRX_ERR_AUTH_REQUIRED');
      const req = radiusRequest(s);
      const out = await client.authenticate(req, signal);
      if (out.kind === 'no-answer') return proxyError('PRX_ERR_AUTH_RADIUS_TIMEOUT', s.user);
      if (out.kind === 'reject') return proxyError('PRX_ERR_AUTH_RADIUS_REJECT', s.user, out.replyCode === null ? '' : ` (reply ${out.replyCode})`);
      if (out.framedAddress !== null) s.externalAddress = out.framedAddress;
      if (cfg.accounting === true) {
        await client.account(req);
        // Stop carries the final counters, so it waits for the session's end.
        void s.finished.then(() => client.account(req, { bytesIn: s.bytesIn, bytesOut: s.bytesOut, seconds: (Date.now() - s.startedAt) / 1000 }));
      }
      return null;
    },
    authorize: (s) => ctx.walk(s),
  };
};
