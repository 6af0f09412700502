/**
 * UDP ASSOCIATE through a SOCKS5 parent: PySocks sends a datagram to rx3proxy's relay, which
 * opens an association at the parent and forwards the datagram, wrapped, to the parent's relay;
 * a loopback UDP echo answers back the same way. Parents: dante (a peer nobody here wrote) and
 * a second rx3proxy, whose own access record proves the datagrams crossed it.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { dante, type Peer } from './parents-helpers';

function pysocksUdp(proxyPort: number, port: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = join(__dirname, 'fixtures', 'pysocks_client.py');
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [script, 'udp', String(proxyPort), '127.0.0.1', String(port)], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : 1, stdout, stderr });
    });
  });
}

const socksService = (name: string, parents: string): string => `
  - name: ${name}
    type: socks
    listen: 127.0.0.1:0
    accessLog: { to: none, format: json }
    acl: [{ allow: {}${parents === '' ? '' : `, parents: ${parents}`} }]
`;

describe('UDP ASSOCIATE through a SOCKS5 parent', () => {
  let echo: DgramSocket;
  let echoPort: number;
  let danted: Peer;
  let proxy: RunningProxy | null = null;
  let parent: RunningProxy | null = null;
  beforeAll(async () => {
    echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
    echoPort = echo.address().port;
    danted = await dante();
  });
  afterEach(async () => {
    for (const p of [proxy, parent]) {
      if (p === null) continue;
      await p.stop();
      expect(p.rt.liveConnections()).toBe(0);
    }
    proxy = parent = null;
  });
  afterAll(async () => {
    echo.close();
    await danted.stop();
  });

  it('relays through dante', async () => {
    proxy = await startProxy(`version: 1\nservices:${socksService('s', `[{ type: socks5, host: 127.0.0.1, port: ${danted.port} }]`)}`);
    const r = await pysocksUdp(proxy.ports['s']!, echoPort);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`echo:query-1 127.0.0.1 ${echoPort}`);
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'UDPASSOC', code: 0, bytesOut: 7, bytesIn: 12, hops: 1, remotePort: danted.port });
  });

  it('relays through a second rx3proxy as a socks5+ parent, which logs the association too', async () => {
    parent = await startProxy(`version: 1\nservices:${socksService('p', '')}`);
    proxy = await startProxy(`version: 1\nservices:${socksService('s', `[{ type: socks5+, host: 127.0.0.1, port: ${parent.ports['p']!} }]`)}`);
    const r = await pysocksUdp(proxy.ports['s']!, echoPort);
    expect(r.stdout.trim()).toBe(`echo:query-1 127.0.0.1 ${echoPort}`);
    // The client's association ends first; the parent's ends when our control connection closes.
    const [rec] = await proxy.waitForRecords(1);
    expect(rec).toMatchObject({ operation: 'UDPASSOC', code: 0, bytesOut: 7, bytesIn: 12 });
    const [prec] = await parent.waitForRecords(1);
    expect(prec).toMatchObject({ operation: 'UDPASSOC', code: 0, bytesOut: 7, bytesIn: 12 });
  });
});
