/**
 * readRequest: the first step of every pipeline. Reads what the client asks for in the
 * service's protocol and emits one Session per request (HTTP keep-alive: several).
 *
 *   connection Session -> protocolReaders[protocol] -> request Session(s)
 *
 * The reader sets `session.responder`, the protocol's way of answering errors. A request the
 * reader could not parse is emitted with `session.error` set, so `log` records it and the
 * responder answers it (HTTP 400, SOCKS reply byte) instead of the connection just dying.
 */
import { concatMap } from 'rxjs';
import { defineOperator, withSourceFn } from '../../core/operator';
import { parseDuration, DURATION_PATTERN } from '../../config/units';
import { protocolReaders } from './protocols';
import './fixed';
import './http';
import './socks';
import './auto';
import './tls';
import './pop3';
import './smtp';
import './imap';
import './ftp';
import '../udp';

export interface ReadRequestStepOptions {
  protocol: string;
  handshakeTimeout?: string;
}

export const readRequest = defineOperator<ReadRequestStepOptions>({
  name: 'readRequest',
  kind: 'source',
  schema: {
    $id: 'rx3proxy:operator/readRequest',
    type: 'object',
    description: 'Reads the client request in a protocol and emits one session per request.',
    additionalProperties: false,
    required: ['protocol'],
    properties: {
      protocol: {
        type: 'string',
        description: 'Protocol parser: fixed (port mappers), http, socks, auto, pop3, smtp, imap, ftp, tls, dns, admin.',
      },
      handshakeTimeout: {
        type: 'string',
        pattern: DURATION_PATTERN,
        description: "Time the client has to send a complete request (default: the service's timeouts.handshake, 30s).",
      },
    },
  },
  create(options, env, ctx) {
    const reader = protocolReaders.require(options.protocol);
    const timeouts = (ctx.service.config['timeouts'] ?? {}) as Record<string, string>;
    const handshake = options.handshakeTimeout ?? timeouts['handshake'] ?? '30s';
    const read = reader.create({ ...options, handshakeTimeoutMs: parseDuration(handshake) }, env, ctx);
    return withSourceFn(concatMap(read), read, read.single);
  },
});
