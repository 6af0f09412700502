/**
 * Root `maxconn`: one process-wide cap across services. Beyond it a new client on any service
 * waits (no error, 3proxy stops calling accept) until a connection anywhere ends; the
 * diagnostics log says so.
 */
import { Writable } from 'node:stream';
import type { Socket } from 'node:net';
import pino from 'pino';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect } from '../helpers/clients';
import { Runtime } from '../../core/runtime';
import type { Logger } from '../../core/logger';
import { GLOBAL_SLOTS_SYMBOL, type ConnectionSlots } from '../../core/limits';

function capturingLogger(): { logger: Logger; lines: string[]; waitFor(re: RegExp): Promise<void> } {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      for (const w of [...waiters]) w();
      cb();
    },
  });
  const waitFor = (re: RegExp): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (lines.some((l) => re.test(l))) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  return { logger: pino({ level: 'info' }, stream), lines, waitFor };
}

/** Resolves with the first data the socket receives. */
const firstData = (s: Socket): Promise<string> => new Promise((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));

const config = (echo: number, maxconn: number): string => `
maxconn: ${maxconn}
services:
  - name: one
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo}
    accessLog: { to: none, format: json }
  - name: two
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo}
    accessLog: { to: none, format: json }
`;

describe('global maxconn', () => {
  let rt: Runtime | null = null;
  let echo: Fixture | null = null;
  const clients: Socket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    if (rt !== null) await rt.stop(0);
    rt = null;
    if (echo !== null) await echo.close();
    echo = null;
  });

  it('holds a client of another service until the only global slot is free, and logs it', async () => {
    echo = await echoServer();
    const log = capturingLogger();
    rt = Runtime.fromText(config(echo.port, 1), 'maxconn.yaml', { logger: log.logger });
    await rt.start();
    const ports = rt.ports();
    const slots = rt.env.symbols.get(GLOBAL_SLOTS_SYMBOL) as ConnectionSlots;
    expect(slots.max).toBe(1);

    const a = await tcpConnect(ports['one']!);
    clients.push(a);
    const aEcho = firstData(a);
    a.write('first');
    expect(await aEcho).toBe('first');
    expect(slots.inUse).toBe(1);

    const b = await tcpConnect(ports['two']!);
    clients.push(b);
    let bGot = '';
    const bEcho = firstData(b).then((d) => (bGot = d));
    b.write('second');
    // The proxy accepted b's TCP connection and parked it: the log says why.
    await log.waitFor(/global maxconn\), waiting/);
    expect(log.lines.join('')).toMatch(/"service":"two".*"scope":"global"|"scope":"global".*"service":"two"/);
    // a is still served (a round trip through the proxy) while b still has nothing.
    const aAgain = firstData(a);
    a.write('ping');
    expect(await aAgain).toBe('ping');
    expect(bGot).toBe('');
    expect(rt.services[1]!.live.size).toBe(0);
    expect(echo.sockets.size).toBe(1);

    // a ends: b takes the slot and its bytes (sent while it waited) go through.
    a.destroy();
    expect(await bEcho).toBe('second');
    expect(slots.inUse).toBe(1);
    expect(rt.services[1]!.live.size).toBe(1);
    b.destroy();
    await rt.whenIdle();
    expect(slots.inUse).toBe(0);
  });

  it('without a root maxconn both services serve at once', async () => {
    echo = await echoServer();
    rt = Runtime.fromText(config(echo.port, 1).replace(/^maxconn: 1\n/m, ''), 'maxconn.yaml', { logger: capturingLogger().logger });
    await rt.start();
    const ports = rt.ports();
    const a = await tcpConnect(ports['one']!);
    const b = await tcpConnect(ports['two']!);
    clients.push(a, b);
    const both = Promise.all([firstData(a), firstData(b)]);
    a.write('x');
    b.write('y');
    expect(await both).toEqual(['x', 'y']);
  });
});
