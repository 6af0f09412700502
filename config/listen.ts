/**
 * `listen:` values: `PORT`, `HOST:PORT`, `[V6]:PORT`, `unix:/path`. Port 0 means ephemeral
 * (tests read the bound port back, or use --port-file). A missing port takes the service
 * type's default (3proxy: proxy 3128, socks 1080, ...).
 */
import { isIP } from 'node:net';
import { proxyError } from '../core/errors';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly path?: string;
  /** As written, for messages. */
  readonly text: string;
}

export function parseListen(value: string | number, defaultPort: number): ListenAddress {
  const text = String(value).trim();
  if (text.startsWith('unix:')) return { host: '', port: 0, path: text.slice(5), text };
  if (/^\d+$/.test(text)) return { host: '0.0.0.0', port: checkPort(text, text), text };
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6 !== null) {
    if (isIP(v6[1]!) !== 6) throw proxyError('PRX_ERR_CONFIG_VALUE', text, 'bad IPv6 address');
    return { host: v6[1]!, port: v6[2] === undefined ? defaultPort : checkPort(v6[2], text), text };
  }
  const i = text.lastIndexOf(':');
  if (i < 0) return { host: text, port: defaultPort, text };
  const host = text.slice(0, i);
  if (host.includes(':')) {
    // A bare IPv6 address without brackets and port.
    if (isIP(text) === 6) return { host: text, port: defaultPort, text };
    throw proxyError('PRX_ERR_CONFIG_VALUE', text, 'write IPv6 listen addresses as [addr]:port');
  }
  return { host, port: checkPort(text.slice(i + 1), text), text };
}

function checkPort(p: string, text: string): number {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw proxyError('PRX_ERR_CONFIG_VALUE', text, 'bad port');
  return n;
}

/** `host:port` with brackets for IPv6, for messages and the log. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
