/**
 * The pipe relay (relayStream) over real loopback sockets: bytes and counts both ways, half-close,
 * and what it leaves behind. A closed socket object stays in V8's heap until the next full GC, so
 * listeners the relay left on it would keep the relay's closures and the session alive (and
 * promoted) until then: once the relay is done, none of its listeners may remain, and a closed
 * session no longer points at its target socket.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { relayStream } from '../../operators/mapSockets/relay';
import { Session, emptyRequest, type Connection } from '../../core/session';
import type { ProxyError } from '../../core/errors';

const EVENTS = ['close', 'end', 'error', 'timeout', 'data'] as const;
const service = { name: 's', type: 'tcppm', logName: 'TCPPM', port: 0 };

/** A connected socket pair on 127.0.0.1:0: [our end, the peer's end]. */
async function socketPair(server: Server): Promise<[Socket, Socket]> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const peer = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, allowHalfOpen: true });
  const [ours] = await accepted;
  await once(peer, 'connect');
  return [ours, peer];
}

function listeners(s: Socket): Record<string, number> {
  return Object.fromEntries(EVENTS.map((e) => [e, s.listenerCount(e)]));
}

function read(s: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks).toString());
}

describe('relayStream', () => {
  let server: Server;
  const open: Socket[] = [];
  beforeAll(async () => {
    server = createServer({ allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.destroy();
  });
  afterAll(() => server.close());

  async function setUp(): Promise<{
    session: Session;
    client: Socket;
    target: Socket;
    clientPeer: Socket;
    targetPeer: Socket;
  }> {
    const [client, clientPeer] = await socketPair(server);
    const [targetPeer, target] = await socketPair(server);
    open.push(client, clientPeer, target, targetPeer);
    const connection: Connection = {
      id: 1,
      socket: client,
      clientAddress: '127.0.0.1',
      clientPort: 1,
      localAddress: '127.0.0.1',
      localPort: 2,
      acceptedAt: 0,
    };
    const session = new Session(connection, service, emptyRequest('fixed'));
    session.target = target;
    return { session, client, target, clientPeer, targetPeer };
  }

  it('relays both ways with half-close, counts the bytes and removes its listeners when both sides close', async () => {
    const { session, client, target, clientPeer, targetPeer } = await setUp();
    const before = { client: listeners(client), target: listeners(target) };
    const finished = new Promise<ProxyError | null>((resolve) =>
      relayStream(session, { idleMs: 5000, halfClose: true }, resolve),
    );
    const atTarget = read(targetPeer);
    const atClient = read(clientPeer);
    clientPeer.end('ping from the client');
    // Half-close: the target still answers after the client's FIN has reached it.
    expect(await atTarget).toBe('ping from the client');
    targetPeer.end('pong from the target');
    expect(await atClient).toBe('pong from the target');
    expect(await finished).toBeNull();
    expect(session.bytesOut).toBe('ping from the client'.length);
    expect(session.bytesIn).toBe('pong from the target'.length);
    expect(client.destroyed && target.destroyed).toBe(true);
    expect(listeners(client)).toEqual(before.client);
    expect(listeners(target)).toEqual(before.target);
  });

  it('removes its listeners when stopped early, and session.close() lets go of the target', async () => {
    const { session, client, target } = await setUp();
    const before = { client: listeners(client), target: listeners(target) };
    let called = false;
    const stop = relayStream(session, { idleMs: 5000, halfClose: true }, () => {
      called = true;
    });
    expect(client.listenerCount('close')).toBeGreaterThan(before.client['close']!);
    stop();
    expect(listeners(client)).toEqual(before.client);
    expect(listeners(target)).toEqual(before.target);
    session.close();
    await once(target, 'close');
    expect(session.target).toBeNull();
    expect(called).toBe(false);
  });

  it('ends with PRX_ERR_IDLE_TIMEOUT on an idle connection and leaves no listener', async () => {
    const { session, client, target } = await setUp();
    const before = { client: listeners(client), target: listeners(target) };
    const err = await new Promise<ProxyError | null>((resolve) =>
      relayStream(session, { idleMs: 50, halfClose: true }, resolve),
    );
    expect(err?.code).toBe('PRX_ERR_IDLE_TIMEOUT');
    expect(target.destroyed).toBe(true);
    expect(listeners(client)).toEqual(before.client);
    expect(listeners(target)).toEqual(before.target);
  });
});
