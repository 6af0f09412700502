/**
 * The example plugin end to end: `stamp.tag` in a tcppm custom pipeline, against a real echo
 * upstream. Only the public API and the plugin's own module are used.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { connect } from 'node:net';
import { Runtime, type AccessRecord, type ProxyError } from '../../../index';

function echoServer(): Promise<Server> {
  const server = createServer((s: Socket) => s.pipe(s));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = connect(port, '127.0.0.1', () => c.end(text));
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('example plugin: stamp', () => {
  let echo: Server;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(async () => {
    await new Promise((resolve) => echo.close(resolve));
  });

  it('stamp.tag runs in a YAML pipeline and stamps the upstream stream', async () => {
    const { port } = echo.address() as { port: number };
    const yaml = `
version: 1
log: { level: silent }
accessLog: { to: none, format: json }
plugins:
  - module: ./index
services:
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${port}
    pipeline:
      - readRequest: { protocol: fixed }
      - authenticate: {}
      - stamp.tag: { text: 'X-Stamp: {service} {client}' }
      - connect: {}
      - mapSockets: {}
      - log: {}
`;
    const rt = await Runtime.load(yaml, `${__dirname}/stamp.yaml`);
    const logged = new Promise<AccessRecord>((resolve) => rt.accessLogs.listeners.add((r) => resolve(r)));
    await rt.start();
    expect(await exchange(rt.ports()['mapper']!, 'ping')).toBe('X-Stamp: mapper 127.0.0.1\r\nping');
    expect((await logged).bytesOut).toBe('X-Stamp: mapper 127.0.0.1\r\nping'.length);
    await rt.stop(0);
  });

  it('rejects a stamp without text at startup, pointing at the step', async () => {
    const yaml = `
version: 1
plugins: [{ module: ./index }]
services:
  - { name: m, type: tcppm, listen: 127.0.0.1:0, target: 127.0.0.1:1, pipeline: [{ readRequest: { protocol: fixed } }, { stamp.tag: {} }] }
`;
    const err = (await Runtime.load(yaml, `${__dirname}/stamp.yaml`).catch((e: unknown) => e)) as ProxyError;
    expect(err.code).toBe('PRX_ERR_CONFIG_INVALID');
    expect(err.errors.map((p) => p.pointer).join(' ')).toContain('/services/0/pipeline/1');
  });
});
