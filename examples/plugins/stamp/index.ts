/**
 * stamp: an example third-party plugin, built only against rx3proxy's public API.
 *
 * It adds the operator `stamp.tag`, which prepends one line to what the target receives first
 * (a per-connection header stamp, as a PROXY-protocol-like marker) and records the stamp in
 * `session.state` under `stamp.tag` for later steps and plugins.
 *
 *   plugins: [{ module: ./examples/plugins/stamp }]
 *   services:
 *     - name: mapper
 *       type: tcppm
 *       pipeline: [{ readRequest: { protocol: fixed } }, { authenticate: {} },
 *                  { stamp.tag: { text: 'X-Stamp: {service} {client}' } },
 *                  { connect: {} }, { mapSockets: {} }, { log: {} }]
 */
import { definePlugin, defineOperator, sessionStep } from '../../../index';

export interface StampOptions {
  /** The line to send; `{service}` and `{client}` are replaced per connection. */
  text: string;
}

/** Where the stamp is kept on the session. */
export const STAMP_STATE_KEY = 'stamp.tag';

const tag = defineOperator<StampOptions>({
  name: 'tag',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['text'],
    properties: {
      text: { type: 'string', minLength: 1, description: 'Line sent to the target before the client data; {service} and {client} are replaced.' },
    },
  },
  create(options, _env, ctx) {
    // The service name is fixed per service: substitute it once, at create time.
    const template = options.text.replaceAll('{service}', ctx.service.name);
    return sessionStep((session) => {
      const line = template.replaceAll('{client}', session.connection.clientAddress);
      session.state.set(STAMP_STATE_KEY, line);
      const stamp = Buffer.from(line + '\r\n');
      session.head = session.head === null ? stamp : Buffer.concat([stamp, session.head]);
      return session;
    });
  },
});

export default definePlugin({
  name: 'stamp',
  version: '0.1.0',
  setup(api) {
    api.operator(tag);
  },
});
