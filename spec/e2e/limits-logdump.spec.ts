/**
 * Root `logDump` (3proxy `logdump IN OUT`): a long tcppm session writes interim access records
 * every IN bytes from the server, through the service's access-log sink, then its final record.
 * The server sends in three parts and waits for each interim record before the next, so the
 * test waits on records (events), not on time.
 */
import { createServer, type Socket } from 'node:net';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { tcpConnect } from '../helpers/clients';

const MiB = 1024 * 1024;
const PARTS = [1.25 * MiB, 1.25 * MiB, 0.5 * MiB];

/** Sends PARTS[0], then each next part when `next()` is called; ends after the last. */
function pacedServer(): Promise<{ port: number; connected: Promise<void>; next(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let onConnect: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnect = resolve));
  let peer: Socket | null = null;
  let part = 0;
  const send = (): void => {
    const s = peer!;
    const buf = Buffer.alloc(PARTS[part]!, 0x61);
    part++;
    if (part === PARTS.length) s.end(buf);
    else s.write(buf);
  };
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    s.resume();
    peer = s;
    send();
    onConnect();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as { port: number }).port,
        connected,
        next: send,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

const config = (port: number, logDump: string): string => `
${logDump}
services:
  - name: pm
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${port}
    accessLog: { to: none, format: json }
`;

/** Reads everything until the proxy ends the stream; resolves with the byte count. */
function drain(c: Socket): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    c.on('data', (d: Buffer) => (n += d.length));
    c.once('end', () => resolve(n));
  });
}

describe('logDump', () => {
  let proxy: RunningProxy | null = null;
  let server: { close(): Promise<void> } | null = null;
  afterEach(async () => {
    if (proxy !== null) await proxy.stop();
    proxy = null;
    if (server !== null) await server.close();
    server = null;
  });

  it('a 3 MB tcppm download with logDump 1MB gives >= 2 interim records with growing counts, then the final one', async () => {
    const srv = await pacedServer();
    server = srv;
    proxy = await startProxy(config(srv.port, 'logDump: { in: 1MB, interval: 20ms }'));
    const c = await tcpConnect(proxy.ports['pm']!);
    const total = drain(c);
    await proxy.waitForRecords(1);
    srv.next();
    await proxy.waitForRecords(2);
    srv.next();
    expect(await total).toBe(3 * MiB);
    c.destroy();
    await proxy.rt.whenIdle();
    const records = await proxy.waitForRecords(3);
    const final = records[records.length - 1]!;
    const interim = records.slice(0, -1);
    expect(interim.length).toBeGreaterThanOrEqual(2);
    expect(final.bytesIn).toBe(3 * MiB);
    let last = 0;
    for (const r of interim) {
      expect(r.service).toBe('pm');
      expect(r.operation).toBe(final.operation);
      expect(r.code).toBe(0);
      // Each at least 1 MiB past the one before, and none is the final total.
      expect(r.bytesIn - last).toBeGreaterThanOrEqual(MiB);
      expect(r.bytesIn).toBeLessThan(3 * MiB);
      last = r.bytesIn;
    }
  });

  it('without logDump the same session writes only its final record', async () => {
    const srv = await pacedServer();
    server = srv;
    proxy = await startProxy(config(srv.port, ''));
    const c = await tcpConnect(proxy.ports['pm']!);
    const total = drain(c);
    await srv.connected;
    srv.next();
    srv.next();
    expect(await total).toBe(3 * MiB);
    c.destroy();
    await proxy.rt.whenIdle();
    await proxy.waitForRecords(1);
    expect(proxy.records.map((r) => r.bytesIn)).toEqual([3 * MiB]);
  });
});
