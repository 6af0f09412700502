/**
 * `fixed`: the port mappers' "request" (tcppm). The target comes from the service's
 * `target: host:port`; nothing is read from the client before connecting, so the first
 * bytes the client sends go straight to the target through the relay.
 */
import { of } from 'rxjs';
import { isIP } from 'node:net';
import { Session, NO_RESPONDER, type Responder } from '../../core/session';
import { proxyError } from '../../core/errors';
import { protocolReaders, type ProtocolReader } from './protocols';

/** Splits `host:port` / `[v6]:port` / `unix:/path`. */
export function parseTarget(target: string): { host: string; port: number } {
  if (target.startsWith('unix:')) return { host: target, port: 0 };
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(target);
  if (v6 !== null) return { host: v6[1]!, port: Number(v6[2]) };
  const i = target.lastIndexOf(':');
  const port = Number(target.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw proxyError('PRX_ERR_CONFIG_VALUE', JSON.stringify(target), 'expected host:port');
  }
  return { host: target.slice(0, i), port };
}

/** Port mappers have no protocol to answer errors in: they just close the client. */
const closeOnFailure: Responder = NO_RESPONDER;

export const fixedReader: ProtocolReader = {
  name: 'fixed',
  create(_options, _env, ctx) {
    const target = ctx.service.config['target'];
    if (typeof target !== 'string') throw proxyError('PRX_ERR_CONFIG_VALUE', 'target', `service "${ctx.service.name}" needs target: host:port`);
    const { host, port } = parseTarget(target);
    const address = isIP(host) !== 0 ? host : null;
    const single = (first: Session): Session =>
      new Session(
        first.connection,
        first.service,
        { protocol: 'fixed', operation: 'CONNECT', host, port, address, text: target, method: '', url: '' },
        closeOnFailure,
      );
    return Object.assign((first: Session) => of(single(first)), { single });
  },
};

protocolReaders.register('fixed', fixedReader);
