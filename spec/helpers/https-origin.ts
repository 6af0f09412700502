/**
 * An HTTPS origin with its own test PKI (made with the openssl CLI in `dir`): a CA, and a
 * certificate for localhost / 127.0.0.1 signed by it. The server answers every request with
 * JSON describing it (method, url, host, body, forwarded).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface HttpsOrigin {
  readonly server: Server;
  readonly port: number;
  /** PEM file of the CA that signed the origin's certificate. */
  readonly caFile: string;
  close(): Promise<void>;
}

function originPki(dir: string): void {
  const openssl = (args: readonly string[]): void => void execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  const key = (name: string): string[] => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
  openssl(['req', '-x509', ...key('origin-ca'), '-out', 'origin-ca.pem', '-days', '2', '-subj', '/CN=origin test CA', '-addext', 'basicConstraints=critical,CA:TRUE']);
  openssl(['req', ...key('origin'), '-out', 'origin.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'origin.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'origin.csr', '-CA', 'origin-ca.pem', '-CAkey', 'origin-ca.key', '-CAcreateserial', '-out', 'origin.pem', '-days', '2', '-extfile', 'origin.ext']);
}

/** Starts the origin on 127.0.0.1:0; `pki: false` reuses the files an earlier call made in `dir`. */
export async function httpsOrigin(dir: string, pki = true): Promise<HttpsOrigin> {
  if (pki) originPki(dir);
  const server = createServer({ key: readFileSync(join(dir, 'origin.key')), cert: readFileSync(join(dir, 'origin.pem')) }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, body, forwarded: req.headers['forwarded'] ?? null, secret: req.headers['x-secret'] ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    caFile: join(dir, 'origin-ca.pem'),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
