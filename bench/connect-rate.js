'use strict';
// CONNECT tunnels per second through an HTTP proxy listener, plain or TLS (an HTTPS proxy):
// each of CONCURRENCY loops opens a new connection (a full TLS handshake with --tls, no session
// reuse), sends CONNECT to the origin, waits for 200, sends one small GET through the tunnel,
// reads the response to its end and closes. Runs for DURATION seconds (bounded), then prints
// key=value lines for bench/run.sh: NAME_cps, NAME_errors, NAME_p99_ms.
// usage: node connect-rate.js --port P --origin HOST:PORT --name NAME [--tls --ca FILE]
//        env DURATION=10 CONCURRENCY=32 PATH_SMALL=/small
const net = require('node:net');
const tls = require('node:tls');
const { readFileSync } = require('node:fs');

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const port = Number(arg('port'));
const origin = arg('origin', '127.0.0.1:18080');
const name = arg('name', 'connect');
const useTls = args.includes('--tls');
const ca = useTls ? readFileSync(arg('ca')) : undefined;
const durationMs = Number(process.env.DURATION || 10) * 1000;
const concurrency = Number(process.env.CONCURRENCY || 32);
const path = process.env.PATH_SMALL || '/small';
const request = `CONNECT ${origin} HTTP/1.1\r\nHost: ${origin}\r\n\r\n`;
const get = `GET ${path} HTTP/1.0\r\nHost: ${origin}\r\n\r\n`;
const ATTEMPT_TIMEOUT_MS = 5000;

let done = 0;
let errors = 0;
const latencies = [];
const deadline = Date.now() + durationMs;

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const opts = { host: '127.0.0.1', port };
    const s = useTls ? tls.connect({ ...opts, ca }) : net.connect(opts);
    let stage = 0;
    let buf = '';
    let settled = false;
    const finish = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      if (ok) {
        done++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } else errors++;
      resolve();
    };
    const timer = setTimeout(() => finish(false), ATTEMPT_TIMEOUT_MS);
    s.once(useTls ? 'secureConnect' : 'connect', () => s.write(request));
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      if (stage === 0) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^HTTP\/1\.[01] 200/.test(buf)) return finish(false);
        stage = 1;
        buf = buf.slice(end + 4);
        s.write(get);
      }
    });
    s.once('end', () => finish(stage === 1 && /^HTTP\/1\.[01] 200/.test(buf)));
    s.once('error', () => finish(false));
  });
}

async function loop() {
  while (Date.now() < deadline) await once();
}

Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))];
  console.log(`${name}_cps=${Math.round(done / (durationMs / 1000))}`);
  console.log(`${name}_errors=${errors}`);
  console.log(`${name}_p99_ms=${p99.toFixed(1)}`);
});
