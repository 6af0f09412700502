/**
 * The `format: json` access-log record: one JSON object per line, keys in a fixed order so lines
 * diff and grep well. JSON.stringify escapes control characters, so user-supplied text (user names,
 * request lines) can never break a record across lines, unlike a hand-made 3proxy JSON logformat.
 */
import type { AccessRecord } from './record';

/**
 * Formats one record as a single-line JSON object (no trailing newline; the writer adds it).
 *
 * Keys: `time` (ISO 8601, UTC), `service`, `user` (null when none), `client` (`ip:port`), `target`
 * (`host:port` from the requested host or address, null when the request named neither), `remote`
 * (`ip:port` actually connected, null when none), `operation`, `bytesIn`, `bytesOut`, `durationMs`,
 * `code` (3proxy's %E number), `error` (our PRX_ERR_ code or null), `text` (3proxy's %T).
 * IPv6 addresses are bracketed (`[::1]:8080`) so the port stays unambiguous.
 */
export function formatJson(r: AccessRecord): string {
  // An empty host means "none" as in %n.
  const targetHost = r.host || r.requestedIp || null;
  return JSON.stringify({
    time: new Date(r.time).toISOString(),
    service: r.service,
    user: r.user,
    client: hostPort(r.clientIp, r.clientPort),
    target: targetHost === null ? null : hostPort(targetHost, r.requestedPort),
    remote: r.remoteIp === null ? null : hostPort(r.remoteIp, r.remotePort),
    operation: r.operation,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    durationMs: r.durationMs,
    code: r.code,
    error: r.errorCode,
    text: r.text,
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
