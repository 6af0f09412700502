/**
 * Local redirection (3proxy `parent 1000 TYPE 0.0.0.0 0`, inventory 3.8, auth.c handleredirect):
 * instead of dialing, the accepted request is handed to another built-in handler.
 *
 *   allowed request whose first parent is 0.0.0.0:0 -> success to the client (SOCKS reply,
 *   CONNECT 200) -> the TYPE's template pipeline reads the same client stream (http -> proxy,
 *   tls -> tlspr, pop3/smtp/imap -> the mail gateways, admin) -> its requests authenticate
 *   with the redirected request's credentials when they bring none, and walk the ACL a second
 *   time without local-redirect entries, from the redirected request's weight
 *
 * The redirected request itself writes no access record (3proxy's sockschild returns into the
 * handler before its dolog); the handler's requests are logged as that handler's.
 */
import { of, type Subscription } from 'rxjs';
import { compilePipeline, type CompiledPipeline } from '../../core/pipeline';
import { proxyError, toProxyError } from '../../core/errors';
import { Session, emptyRequest } from '../../core/session';
import type { Env } from '../../core/env';
import type { OperatorContext } from '../../core/operator';
import { redirectOrigins, serviceAcl } from '../authorize/service-acl';

/** Parent type -> template (3proxy's redirectfunc switch; `http` and any other type: proxy). */
const HANDLERS: Readonly<Record<string, string>> = {
  http: 'proxy',
  pop3: 'pop3p',
  smtp: 'smtpp',
  imap: 'imapp',
  ftp: 'ftppr',
  admin: 'admin',
  tls: 'tlspr',
};

interface Hop {
  readonly type?: string;
  readonly host?: string;
  readonly port?: number;
}

/** Entries whose 0.0.0.0 0 form means something else: the client's address (extip), a PROXY header to the target (ha). */
const NOT_REDIRECTS = new Set(['extip', 'ha']);

/** True when the session's chain starts with a local redirect. */
export function isLocalRedirect(parents: readonly unknown[]): boolean {
  const p = parents[0] as Hop | undefined;
  return p !== undefined && p.host === '0.0.0.0' && p.port === 0 && !NOT_REDIRECTS.has(p.type ?? '');
}

export type LocalRedirect = (session: Session) => Promise<Session>;

/** The handler runner of one service; handler pipelines are compiled on first use and kept. */
export function localRedirector(env: Env, ctx: OperatorContext): LocalRedirect {
  const compiled = new Map<string, CompiledPipeline>();
  const acl = serviceAcl(ctx.service);
  const pipelineFor = (parentType: string): { pipeline: CompiledPipeline; type: string } => {
    const type = HANDLERS[parentType] ?? 'proxy';
    const template = env.templates.get(type);
    if (template === undefined || template.transport !== 'tcp') throw proxyError('PRX_ERR_NOT_IMPLEMENTED', `local redirection to ${parentType}`);
    let pipeline = compiled.get(type);
    if (pipeline === undefined) {
      // Same acl, auth, timeouts and logs as the service; only the steps are the handler's.
      const config = { ...ctx.service.config, type };
      pipeline = compilePipeline(template.pipeline, env, { service: { name: ctx.service.name, type, config } });
      compiled.set(type, pipeline);
    }
    return { pipeline, type };
  };

  return async (session) => {
    const hop = session.parents[0] as Hop;
    const { pipeline, type } = pipelineFor(hop.type ?? 'http');
    const rule = acl.rules[session.aclRule];
    redirectOrigins.set(session.connection, { user: session.user, password: session.password, weight: rule?.weight ?? 0 });
    await session.responder.connected(session);
    session.relayMode = 'none';
    session.nolog = true;
    session.parents = [];
    const first = new Session(session.connection, session.service, emptyRequest(type));
    let sub: Subscription | undefined;
    await new Promise<void>((resolve) => {
      sub = of(first)
        .pipe(pipeline.run)
        .subscribe({
          error: (err: unknown) => {
            const e = toProxyError(err);
            env.logger.debug({ code: e.code, err: e, client: `${session.connection.clientAddress}:${session.connection.clientPort}` }, 'redirected connection ended with error');
            resolve();
          },
          complete: resolve,
        });
      // The outer session closing (reload cut, shutdown) ends the handler too.
      void session.finished.then(() => sub?.unsubscribe());
    });
    sub?.unsubscribe();
    first.close();
    return session;
  };
}
