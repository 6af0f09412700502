/**
 * dnspr's answers: A/AAAA from env.resolver (hosts, cache, servers), other types forwarded
 * as-is to the first `resolver.servers` entry over UDP, and error replies (FORMERR, SERVFAIL,
 * REFUSED, NXDOMAIN) built from the query's id and question.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Env } from '../../core/env';
import { proxyError, proxyErrorFrom, type ProxyError } from '../../core/errors';
import { parseNameServer, type NameServer } from '../../core/net/dns-query';
import type { ResolverConfig } from '../../core/net/dns-resolver';
import { parseDuration } from '../../config/units';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** Answer TTL for resolver answers: the resolver does not expose its cache TTLs. */
const ANSWER_TTL = 60;

/** A reply to `raw` with no answers and `rcode`; null when the packet has no id to answer. */
export function errorReply(raw: Buffer, query: dnsPacket.Packet | null, rcode: number): Buffer | null {
  if (raw.length < 2) return null;
  const rd = raw.length >= 3 && (raw[2]! & 1) === 1 ? dnsPacket.RECURSION_DESIRED : 0;
  return dnsPacket.encode({ type: 'response', id: raw.readUInt16BE(0), flags: rd | dnsPacket.RECURSION_AVAILABLE | rcode, questions: query?.questions ?? [] });
}

/** Answers an A or AAAA question from the resolver; `answer` is the %T part. */
export async function resolveLocally(env: Env, query: dnsPacket.Packet, q: dnsPacket.Question, signal: AbortSignal): Promise<{ reply: Buffer; answer: string }> {
  const type = q.type as 'A' | 'AAAA';
  let rcode: number = RCODE.NOERROR;
  let addresses: string[] = [];
  try {
    const found = await env.resolver.resolve(q.name, type === 'A' ? '4' : '6', signal);
    addresses = found.map((a) => a.address).filter((a) => isIP(a) === (type === 'A' ? 4 : 6));
  } catch (err) {
    if ((err as ProxyError).code !== 'PRX_ERR_DNS_NOT_FOUND') throw err;
    rcode = RCODE.NXDOMAIN;
  }
  const reply = dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: [q],
    answers: addresses.map((data) => ({ type, name: q.name, ttl: ANSWER_TTL, data })),
  });
  return { reply, answer: rcode === RCODE.NXDOMAIN ? 'NXDOMAIN' : addresses.join(',') };
}

/** The first configured name server (3proxy forwards to the first `nserver`). */
export function forwardServer(env: Env): NameServer {
  const cfg = (env.config['resolver'] ?? {}) as ResolverConfig;
  const first = cfg.servers?.[0];
  if (first === undefined) throw proxyError('PRX_ERR_DNS_UPSTREAM', 'no resolver.servers to forward to');
  return parseNameServer(first);
}

/** Sends the query unchanged to `server` over UDP; resolves with the server's reply. */
export function forward(env: Env, server: NameServer, raw: Buffer, signal: AbortSignal): Promise<Buffer> {
  const cfg = (env.config['resolver'] ?? {}) as ResolverConfig;
  const timeoutMs = parseDuration(cfg.timeout ?? '5s');
  return new Promise((resolve, reject) => {
    const s = createSocket(isIP(server.address) === 6 ? 'udp6' : 'udp4');
    const done = (err: ProxyError | null, reply?: Buffer): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.close();
      if (err !== null) reject(err);
      else resolve(reply!);
    };
    const onAbort = (): void => done(proxyError('PRX_ERR_DNS_UPSTREAM', 'aborted'));
    const timer = setTimeout(() => done(proxyError('PRX_ERR_DNS_UPSTREAM', `no answer from ${server.address}:${server.port}`)), timeoutMs);
    signal.addEventListener('abort', onAbort);
    s.on('error', (err) => done(proxyErrorFrom('PRX_ERR_DNS_UPSTREAM', err, err.message)));
    s.on('message', (msg, rinfo) => {
      // Same id and from the server: anything else is not our answer.
      if (rinfo.address !== server.address || rinfo.port !== server.port || msg.length < 2 || msg.readUInt16BE(0) !== raw.readUInt16BE(0)) return;
      done(null, msg);
    });
    s.send(raw, server.port, server.address);
  });
}

/** `%T` answer part of a forwarded reply: its answers' data, comma separated. */
export function answerText(reply: Buffer): string {
  try {
    const p = dnsPacket.decode(reply);
    return (p.answers ?? []).map((a) => dataText((a as { data?: unknown }).data)).join(',');
  } catch {
    return '?';
  }
}

function dataText(d: unknown): string {
  if (typeof d === 'string') return d;
  if (Buffer.isBuffer(d)) return d.toString('latin1');
  if (Array.isArray(d)) return d.map(dataText).join(' ');
  return d === undefined || d === null ? '' : JSON.stringify(d);
}
