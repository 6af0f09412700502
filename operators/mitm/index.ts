/**
 * mitm: TLS interception of CONNECT tunnels (3proxy ssl_mitm), for services with a `mitm:` block.
 *
 *   CONNECT host:port, admitted by an ACL rule without `mitm: false`
 *     -> 200 Connection established
 *     -> TLS server handshake with the client: certificate minted for the ClientHello's SNI
 *        (no SNI: the CONNECT host), signed by mitm.ca, from the cache when there
 *     -> the decrypted stream runs through this service's own pipeline as a nested connection:
 *        readRequest reads https://host:port/... requests (keep-alive), and filterHeaders,
 *        authenticate, authorize (ACL per request), limits, the HTTP relay (TLS to the origin,
 *        verified) and log see them as any proxy request
 *     -> the CONNECT session ends when the tunnel does: relayMode 'none' (connect and
 *        mapSockets skip it), logged as the tunnel with no bytes (the inner requests count them)
 *
 * Everything else passes through untouched (and synchronously), so the step costs nothing in
 * a service without `mitm:`.
 */
import { of } from 'rxjs';
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { defineOperator, sessionStep } from '../../core/operator';
import { proxyError } from '../../core/errors';
import { Session, emptyRequest, type Connection } from '../../core/session';
import type { CompiledPipeline } from '../../core/pipeline';
import type { AclRuleSpec } from '../../core/acl';
import { closeSocket } from '../../core/service';
import { mitmMaterial, type MitmConfig, type MitmMaterial } from '../../core/mitm/config';
import { parseDuration } from '../../config/units';
import { TlsHandshakeError, acceptTls, type TlsMaterial } from '../../core/tls';
import { createTlsUpstream, type HttpUpstream } from '../mapSockets/http-upstream';
import { upstreamOptions } from '../readRequest/http';
import { MITM_KEY, type MitmTunnel } from '../readRequest/http-mitm';

/** A name from the ClientHello that can be put in a certificate; anything else is refused. */
const SNI_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;

export const mitm = defineOperator<Record<string, never>>({
  name: 'mitm',
  schema: {
    $id: 'rx3proxy:operator/mitm',
    type: 'object',
    description: "Intercepts CONNECT tunnels with the service's mitm: block (certificates minted per host); a no-op without it.",
    additionalProperties: false,
    properties: {},
  },
  create(_options, env, ctx) {
    const cfg = ctx.service.config;
    const block = cfg['mitm'] as MitmConfig | undefined;
    if (block === undefined) return sessionStep((s) => s);
    const rules = (cfg['acl'] ?? []) as readonly AclRuleSpec[];
    const timeouts = (cfg['timeouts'] ?? {}) as Record<string, string>;
    const handshakeMs = parseDuration(timeouts['handshake'] ?? '30s');
    let upstream: HttpUpstream | null = null;
    const upstreamFor = (m: MitmMaterial): HttpUpstream =>
      (upstream ??= createTlsUpstream(env, upstreamOptions(cfg, ctx.service.name), { verify: m.verify, ca: m.originCa }));
    const selected = (s: Session): boolean =>
      s.request.operation === 'HTTP_CONNECT' && s.relayMode === 'stream' && s.error === null && rules[s.aclRule]?.mitm !== false;
    return sessionStep((session) => {
      if (!selected(session)) return session;
      const pipeline = ctx.pipeline?.();
      if (pipeline === undefined) throw proxyError('PRX_ERR_PIPELINE_SHAPE', 'mitm needs to run inside a service pipeline');
      return intercept(session, pipeline, block, upstreamFor, handshakeMs);
    });
  },
});

async function intercept(
  session: Session,
  pipeline: CompiledPipeline,
  block: MitmConfig,
  upstreamFor: (m: MitmMaterial) => HttpUpstream,
  handshakeMs: number,
): Promise<Session> {
  let m: MitmMaterial;
  try {
    m = await mitmMaterial(block);
  } catch (err) {
    // Before the 200: the client gets a 502 page for the CONNECT itself.
    throw proxyError('PRX_ERR_MITM_CERT', (err as Error).message);
  }
  const host = session.request.host.toLowerCase();
  let fallback: SecureContext;
  try {
    fallback = await m.cache.contextFor(host);
  } catch (err) {
    throw proxyError('PRX_ERR_MITM_CERT', `${host}: ${(err as Error).message}`);
  }
  await session.responder.connected(session);
  // From here the tunnel is ours: connect and mapSockets leave the session alone.
  session.relayMode = 'none';
  const raw = session.connection.socket;
  // Bytes the client sent right behind the CONNECT head are the start of its ClientHello:
  // TLSSocket reads what is buffered on the socket it wraps before the socket's own reads.
  if (session.head !== null) raw.unshift(session.head);
  session.head = null;
  const { socket, servername } = await acceptClient(raw, host, fallback, m, handshakeMs, session.abort.signal);
  const tunnel: MitmTunnel = {
    host: session.request.host,
    port: session.request.port,
    servername,
    upstream: upstreamFor(m),
    user: session.user,
    password: session.password,
  };
  await runTunnel(session, socket, pipeline, tunnel);
  return session;
}

/**
 * The server side of the client's TLS: `fallback` (minted for the CONNECT host) unless the
 * ClientHello names another server, which gets its own certificate. Only HTTP/1.1 is offered
 * (ALPN), since the inner requests are read by the HTTP/1 parser.
 */
async function acceptClient(
  raw: Socket,
  host: string,
  fallback: SecureContext,
  m: MitmMaterial,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ socket: TLSSocket; servername: string }> {
  let servername = host;
  const material: TlsMaterial = {
    secureContext: fallback,
    requestCert: false,
    alpn: ['http/1.1'],
    // Only mutual TLS runs in a tls.Server; the client of an intercepted tunnel shows no certificate.
    serverOptions: {},
    sniCallback: (name, cb) => {
      const n = name.toLowerCase();
      if (n === host) return cb(null, fallback);
      if (!SNI_NAME.test(n)) return cb(new Error(`unusable server name ${JSON.stringify(name.slice(0, 100))}`));
      servername = n;
      m.cache.contextFor(n).then(
        (c) => cb(null, c),
        (err: unknown) => cb(err as Error),
      );
    },
  };
  try {
    return { socket: await acceptTls(raw, material, timeoutMs, signal), servername };
  } catch (err) {
    throw proxyError('PRX_ERR_MITM_CLIENT_HANDSHAKE', err instanceof TlsHandshakeError ? err.reason : String(err));
  }
}

/**
 * Runs the decrypted stream through the service's pipeline as a connection of its own (same
 * client address, same connection id) until it ends; ending the CONNECT session ends it too.
 */
function runTunnel(outer: Session, socket: TLSSocket, pipeline: CompiledPipeline, tunnel: MitmTunnel): Promise<void> {
  const c = outer.connection;
  const inner: Connection = {
    id: c.id,
    socket,
    clientAddress: c.clientAddress,
    clientPort: c.clientPort,
    localAddress: c.localAddress,
    localPort: c.localPort,
    acceptedAt: Date.now(),
    // The client's filters (attached at accept) see the decrypted requests too: regex-filter
    // rules block and rewrite inside the tunnel as they do for plain requests.
    ...(c.filters !== undefined ? { filters: c.filters } : {}),
  };
  const first = new Session(inner, outer.service, emptyRequest('http', 'HTTP_OTHER'));
  first.state.set(MITM_KEY, tunnel);
  return new Promise<void>((resolve) => {
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      outer.abort.signal.removeEventListener('abort', onAbort);
      closeSocket(socket);
      resolve();
    };
    // Inner requests report their own failures (answered and logged); the tunnel just ends.
    const sub = of(first).pipe(pipeline.run).subscribe({ error: end, complete: end });
    const onAbort = (): void => {
      sub.unsubscribe();
      end();
    };
    if (outer.abort.signal.aborted) onAbort();
    else outer.abort.signal.addEventListener('abort', onAbort, { once: true });
  });
}

