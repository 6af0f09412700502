/**
 * admin: the admin service's terminal step (3proxy `admin`), after authenticate/authorize have
 * accepted an ADMIN request read by `readRequest{protocol: admin}`.
 *
 *   GET    /                    the web page (page.ts), which reads the API below
 *   GET    /healthz             200 while the process serves
 *   GET    /ready               200 when every service listens, else 503
 *   GET    /api/services        services with their live and accepted connection counts
 *   GET    /api/sessions        live connections (core/introspect.ts)
 *   DELETE /api/sessions/:id    closes one; resolves once it ended (its access record is written)
 *   GET    /api/counters        counters.rules with limit and usage
 *   GET    /api/config          the config in effect, secrets redacted
 *   GET    /api/errors          the last failed requests, newest first (errors.ts)
 *   PUT    /api/config          only with options.writable: validate, write the config file, reload (config-write.ts)
 *   POST   /api/reload          through the Supervisor's ReloadControl if one was provided, else 501
 *   GET    /metrics             Prometheus text format (metrics.ts)
 *
 * Every answer is read from the Runtime the service belongs to at request time; nothing is
 * cached. docs/admin.md has the JSON shapes.
 */
import type { ServerResponse } from 'node:http';
import { defineOperator, sessionStep } from '../../core/operator';
import type { Env } from '../../core/env';
import type { Session } from '../../core/session';
import { proxyError } from '../../core/errors';
import type { Runtime } from '../../core/runtime';
import {
  RELOAD_CONTROL_SYMBOL,
  RUNTIME_SYMBOL,
  closeConnection,
  counterSnapshots,
  liveSessions,
  type ReloadControl,
  type ServiceView,
} from '../../core/introspect';
import { sendBody, sendJson } from './reader';
import { redactConfig } from './redact';
import { adminMetrics, type AdminMetrics } from './metrics';
import { PAGE_HEADERS, PAGE_HTML } from './page';
import { recentErrors, type RecentErrors } from './errors';
import { MAX_CONFIG_BYTES, liveSchema, readBody, writeConfig } from './config-write';
import type { JsonSchema } from '../../core/operator';
import './reader';

export interface AdminServiceOptions {
  readOnly?: boolean;
  metricsPerUser?: boolean;
  writable?: boolean;
}

interface Ctx {
  readonly env: Env;
  readonly rt: Runtime;
  readonly metrics: AdminMetrics;
  readonly errors: RecentErrors;
  readonly readOnly: boolean;
  readonly writable: boolean;
  /** Built on the first PUT: compiling the schema costs, and most admin services never write. */
  schema: JsonSchema | null;
}

type Handler = (ctx: Ctx, s: Session, res: ServerResponse, param: string) => Promise<number>;

const services = (rt: Runtime): readonly ServiceView[] => rt.services;

/** POST /api/reload (and 3proxy's GET /R): through the supervisor, 501 without one. */
const reloadHandler: Handler = async (c, _s, res) => {
  const control = reloadControl(c);
  if (control === undefined) {
    return sendJson(res, 501, { error: 'PRX_ERR_ADMIN_NO_RELOAD', message: 'this process was started without a reload supervisor; reload with SIGHUP or a monitor: file' });
  }
  const result = await control.reload('admin');
  return sendJson(res, result.ok ? 200 : 422, { ...result, generation: control.generation });
};

function redirect(res: ServerResponse, location: string): Promise<number> {
  res.writeHead(302, { location, 'content-length': '0' });
  res.end();
  return Promise.resolve(302);
}

const ROUTES: readonly { method: string; path: RegExp; handler: Handler; writes?: boolean }[] = [
  { method: 'GET', path: /^\/$/, handler: (_c, _s, res) => sendBody(res, 200, PAGE_HTML, PAGE_HEADERS) },
  { method: 'GET', path: /^\/healthz$/, handler: (_c, _s, res) => sendJson(res, 200, { status: 'ok' }) },
  {
    method: 'GET',
    path: /^\/ready$/,
    handler: (c, _s, res) => {
      // A TCP service without a bound port has not started listening (or stopped).
      const notReady = services(c.rt).filter((s) => s.port === 0 && !s.config.listen.startsWith('unix:')).map((s) => s.name);
      return sendJson(res, notReady.length === 0 ? 200 : 503, { ready: notReady.length === 0, notListening: notReady });
    },
  },
  {
    method: 'GET',
    path: /^\/api\/services$/,
    handler: (c, _s, res) =>
      sendJson(res, 200, {
        services: services(c.rt).map((s) => ({ name: s.name, type: s.config.type, listen: s.config.listen, port: s.port, live: s.live.size, maxconn: s.config.maxconn ?? null, accepted: s.accepted ?? null })),
      }),
  },
  { method: 'GET', path: /^\/api\/sessions$/, handler: (c, _s, res) => sendJson(res, 200, { sessions: liveSessions(services(c.rt), c.env.clock.now()) }) },
  {
    method: 'DELETE',
    path: /^\/api\/sessions\/(\d+)$/,
    writes: true,
    handler: async (c, s, res, id) => {
      if (Number(id) === s.connection.id) return sendJson(res, 409, { error: 'PRX_ERR_ADMIN_SELF', message: 'the admin request cannot close its own connection' });
      const closed = await closeConnection(services(c.rt), Number(id), s.user ?? s.connection.clientAddress);
      return closed ? sendJson(res, 200, { closed: Number(id) }) : sendJson(res, 404, { error: 'PRX_ERR_ADMIN_NO_SESSION', message: `no live session ${id}` });
    },
  },
  { method: 'GET', path: /^\/api\/counters$/, handler: (c, _s, res) => sendJson(res, 200, { counters: counterSnapshots(c.rt.env.config, c.rt.limits) }) },
  { method: 'GET', path: /^\/api\/config$/, handler: (c, _s, res) => sendJson(res, 200, { file: c.rt.loaded.file, config: redactConfig(c.rt.env.config) }) },
  { method: 'GET', path: /^\/api\/errors$/, handler: (c, _s, res) => sendJson(res, 200, { capacity: c.errors.capacity, errors: c.errors.list() }) },
  {
    method: 'PUT',
    path: /^\/api\/config$/,
    writes: true,
    handler: async (c, s, res) => {
      if (!c.writable) return sendJson(res, 403, { error: 'PRX_ERR_ADMIN_FORBIDDEN', message: 'config editing is off for this admin service (options.writable)' });
      const control = reloadControl(c);
      if (control === undefined) return sendJson(res, 501, { error: 'PRX_ERR_ADMIN_NO_RELOAD', message: 'this process was started without a reload supervisor: there is no config file to write' });
      if (c.rt.loaded.legacy) return sendJson(res, 409, { error: 'PRX_ERR_ADMIN_LEGACY', message: `${control.file} is a 3proxy.cfg; convert it to YAML to edit it through the API` });
      const req = s.httpRequest;
      const body = req === null ? ({ ok: true, text: '' } as const) : await readBody(req);
      if (!body.ok) return sendJson(res, body.tooLarge ? 413 : 400, { error: 'PRX_ERR_ADMIN_BODY', message: body.tooLarge ? `config body over ${MAX_CONFIG_BYTES} bytes` : 'the request body did not arrive' }, { connection: 'close' });
      c.schema ??= liveSchema(c.rt);
      const out = await writeConfig(c.rt, control, c.schema, body.text);
      return sendJson(res, out.status, out.body);
    },
  },
  {
    method: 'POST',
    path: /^\/api\/reload$/,
    writes: true,
    handler: (c, s, res, p) => reloadHandler(c, s, res, p),
  },
  // 3proxy's admin paths, so bookmarks and scripts written for it keep working: its pages
  // become sections of ours, and GET /R reloads as 3proxy's does (refused when read-only).
  { method: 'GET', path: /^\/C$/, handler: (_c, _s, res) => redirect(res, '/#counters') },
  { method: 'GET', path: /^\/S$/, handler: (_c, _s, res) => redirect(res, '/#sessions') },
  { method: 'GET', path: /^\/F$/, handler: (_c, _s, res) => redirect(res, '/#config') },
  { method: 'GET', path: /^\/R$/, writes: true, handler: (c, s, res, p) => reloadHandler(c, s, res, p) },
  {
    method: 'GET',
    path: /^\/metrics$/,
    handler: async (c, _s, res) => sendBody(res, 200, Buffer.from(await c.metrics.scrape(services(c.rt), c.rt.env.resolver, reloadControl(c))), { 'content-type': c.metrics.contentType }),
  },
];

const reloadControl = (c: Ctx): ReloadControl | undefined => c.env.symbols.get(RELOAD_CONTROL_SYMBOL) as ReloadControl | undefined;

async function route(ctx: Ctx, s: Session, res: ServerResponse): Promise<number> {
  const path = (s.request.url.split('?')[0] ?? '/').replace(/\/+$/, '') || '/';
  const matching = ROUTES.filter((r) => r.path.test(path));
  if (matching.length === 0) return sendJson(res, 404, { error: 'PRX_ERR_ADMIN_NOT_FOUND', message: `no such path: ${path}` });
  const r = matching.find((m) => m.method === s.request.method);
  if (r === undefined) return sendJson(res, 405, { error: 'PRX_ERR_ADMIN_METHOD', message: `${s.request.method} not allowed on ${path}` }, { allow: matching.map((m) => m.method).join(', ') });
  if (r.writes === true && ctx.readOnly) return sendJson(res, 403, { error: 'PRX_ERR_ADMIN_FORBIDDEN', message: 'this admin service is read-only' });
  const param = r.path.exec(path)?.[1] ?? '';
  return r.handler(ctx, s, res, param);
}

export const admin = defineOperator<Record<string, never>>({
  name: 'admin',
  schema: {
    $id: 'rx3proxy:operator/admin',
    type: 'object',
    description: "Answers admin API requests (after readRequest{protocol: admin}, authenticate, authorize); the service's options say readOnly, writable and metricsPerUser.",
    additionalProperties: false,
    properties: {},
  },
  create(_options, env, ctx) {
    const rt = env.symbols.get(RUNTIME_SYMBOL) as Runtime | undefined;
    if (rt === undefined) throw proxyError('PRX_ERR_CONFIG_VALUE', 'admin', `service "${ctx.service.name}": the admin step needs a Runtime`);
    const o = (ctx.service.config['options'] ?? {}) as AdminServiceOptions;
    const metrics = adminMetrics(o.metricsPerUser === true);
    metrics.attach(rt.accessLogs.listeners);
    const errors = recentErrors();
    errors.attach(rt.accessLogs.listeners);
    const c: Ctx = { env, rt, metrics, errors, readOnly: o.readOnly === true, writable: o.writable === true, schema: null };
    return sessionStep(async (s) => {
      const res = s.httpResponse;
      if (res === null) throw proxyError('PRX_ERR_INTERNAL', 'admin step without an HTTP request (readRequest protocol must be admin)');
      s.bytesIn = await route(c, s, res);
      return s;
    });
  },
});
