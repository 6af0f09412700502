/**
 * `dns` reader (3proxy dnspr): one request Session per query datagram.
 *
 *   datagram -> dns-packet decode -> Session{operation DNSRESOLVE, host: queried name}
 *   -> authenticate/authorize (ACL per query) -> 'udp' relay: A/AAAA from env.resolver,
 *      other types forwarded to the first resolver.servers entry -> reply -> log
 *
 * `simple` (3proxy -s) skips the resolver: every query, A and AAAA too, is forwarded as-is.
 *
 * `%T` is `type/name/answer`. A packet that does not decode is logged with PRX_ERR_DNS_PACKET
 * and answered FORMERR; one shorter than a DNS header, or a response (QR set), is logged and
 * dropped, as 3proxy drops what it cannot parse: answering a response could start a loop
 * between two DNS proxies. A refused query gets REFUSED, a failed one SERVFAIL.
 * The association is released at once so each datagram is its own request, even when a client
 * sends several from one port.
 */
import { Observable, from } from 'rxjs';
import * as dnsPacket from 'dns-packet';
import { Session, emptyRequest, type Responder } from '../../core/session';
import { proxyError, type ProxyError } from '../../core/errors';
import type { Env } from '../../core/env';
import { protocolReaders, type ProtocolReader } from '../readRequest/protocols';
import { associationOf, udpSession } from './relay';
import { RCODE, answerText, errorReply, forward, forwardServer, resolveLocally } from './dns-reply';

const RAW_KEY = 'dns.raw';
const QUERY_KEY = 'dns.query';

/** The type's `options:` (services/dnspr.yaml). */
export interface DnsOptions {
  readonly simple?: boolean;
}

/** DNS header size (RFC 1035 4.1.1): anything shorter carries no question to answer. */
const HEADER = 12;

function rcodeFor(err: ProxyError): number {
  if (err.code === 'PRX_ERR_DNS_PACKET') return RCODE.FORMERR;
  // 3proxy codes 1-10 are the auth/ACL stage: the client was refused, not the lookup.
  if (err.legacyCode >= 1 && err.legacyCode <= 10) return RCODE.REFUSED;
  return RCODE.SERVFAIL;
}

const dnsResponder: Responder = {
  fail(session, err) {
    const raw = session.state.get(RAW_KEY) as Buffer | undefined;
    if (raw === undefined || raw.length < HEADER || (raw[2]! & 0x80) !== 0) return;
    const reply = errorReply(raw, (session.state.get(QUERY_KEY) as dnsPacket.Packet | undefined) ?? null, rcodeFor(err));
    if (reply !== null) associationOf(session).send(reply);
  },
  connected() {},
};

/** Resolves or forwards one query and sends the reply; fills %T, %I, %O, %R. */
async function answer(env: Env, session: Session, simple: boolean): Promise<Session> {
  const raw = session.state.get(RAW_KEY) as Buffer;
  const query = session.state.get(QUERY_KEY) as dnsPacket.Packet;
  const q = query.questions![0]!;
  session.bytesOut = raw.length;
  let reply: Buffer;
  let text: string;
  if (!simple && (q.type === 'A' || q.type === 'AAAA') && (q.class ?? 'IN') === 'IN') {
    ({ reply, answer: text } = await resolveLocally(env, query, q, session.abort.signal));
  } else {
    const server = forwardServer(env);
    session.remoteAddress = server.address;
    session.remotePort = server.port;
    reply = await forward(env, server, raw, session.abort.signal);
    text = answerText(reply);
  }
  session.request.text = `${q.type}/${q.name}/${text}`;
  session.bytesIn = reply.length;
  associationOf(session).send(reply);
  return session;
}

/** Decodes one query; a packet without exactly a question is malformed for us. */
function decodeQuery(raw: Buffer): dnsPacket.Packet | ProxyError {
  if (raw.length < HEADER) return proxyError('PRX_ERR_DNS_PACKET', `${raw.length} bytes, shorter than a DNS header`);
  if ((raw[2]! & 0x80) !== 0) return proxyError('PRX_ERR_DNS_PACKET', 'a response, not a query');
  try {
    const p = dnsPacket.decode(raw);
    if (p.type !== 'query' || (p.questions ?? []).length === 0) return proxyError('PRX_ERR_DNS_PACKET', 'not a query with a question');
    return p;
  } catch (err) {
    return proxyError('PRX_ERR_DNS_PACKET', (err as Error).message);
  }
}

function requestSession(env: Env, first: Session, raw: Buffer, simple: boolean): Session {
  const query = decodeQuery(raw);
  const q = query instanceof Error ? undefined : query.questions![0];
  const request = q === undefined ? emptyRequest('dns', 'DNSRESOLVE') : { ...emptyRequest('dns', 'DNSRESOLVE'), host: q.name, text: `${q.type}/${q.name}` };
  const s = udpSession(first, new Session(first.connection, first.service, request, dnsResponder), (session) => from(answer(env, session, simple)));
  s.state.set(RAW_KEY, raw);
  if (query instanceof Error) s.error = query;
  else s.state.set(QUERY_KEY, query);
  return s;
}

export const dnsReader: ProtocolReader = {
  name: 'dns',
  create(_options, env, ctx) {
    const simple = ((ctx.service.config['options'] ?? {}) as DnsOptions).simple === true;
    return (first) =>
      new Observable<Session>((sub) => {
        const assoc = associationOf(first);
        const stop = assoc.receive((raw) => {
          stop();
          assoc.release();
          sub.next(requestSession(env, first, raw, simple));
          sub.complete();
        });
        return stop;
      });
  },
};

protocolReaders.register('dns', dnsReader);
