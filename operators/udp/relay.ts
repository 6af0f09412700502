/**
 * The 'udp' relay (mapSockets for UDP services): a UDP reader puts the exchange to run for its
 * session in `session.state` under UDP_EXCHANGE_KEY (udppm: relay an association until idle;
 * dnspr: answer one query). mapSockets runs it like any relay, so `log` writes the record when
 * the exchange ends and failures go through the pipeline's onFailure/responder as for TCP.
 */
import type { Observable } from 'rxjs';
import type { Session } from '../../core/session';
import { proxyError } from '../../core/errors';
import { UDP_ASSOCIATION_KEY, type UdpAssociation } from '../../core/udp-service';
import { relays } from '../mapSockets';
import type { RelayOptions } from '../mapSockets/relay';

export const UDP_EXCHANGE_KEY = 'udp.exchange';

/** What a UDP reader hands to the relay. */
export type UdpExchange = (session: Session, opts: RelayOptions) => Observable<Session>;

/** The association the UDP runtime attached to the connection's first session. */
export function associationOf(session: Session): UdpAssociation {
  const a = session.state.get(UDP_ASSOCIATION_KEY);
  if (a === undefined) throw proxyError('PRX_ERR_UDP_FAILED', `service type ${session.service.type} needs a UDP listener (transport: udp)`);
  return a as UdpAssociation;
}

/** Starts a request session of a UDP service: same association, relayed by `exchange`. */
export function udpSession(from: Session, to: Session, exchange: UdpExchange): Session {
  to.state.set(UDP_ASSOCIATION_KEY, associationOf(from));
  to.state.set(UDP_EXCHANGE_KEY, exchange);
  to.relayMode = 'udp';
  return to;
}

relays.register('udp', (session, opts) => {
  const exchange = session.state.get(UDP_EXCHANGE_KEY) as UdpExchange | undefined;
  if (exchange === undefined) throw proxyError('PRX_ERR_UDP_FAILED', 'no UDP exchange for this session');
  return exchange(session, opts);
});
