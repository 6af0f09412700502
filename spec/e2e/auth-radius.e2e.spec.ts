/**
 * RADIUS against a real FreeRADIUS (Debian `freeradius`, installed by .ci/run) started here on
 * loopback with a minimal config: files + pap for authentication, `always ok` for accounting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RadiusClient } from '../../core/auth';
import { RADIUS_CLIENT_SYMBOL } from '../../operators/authenticate';
import { code, makeEnv, makeSession, service } from '../auth/harness';

const SECRET = 'testing123';

function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }));
}

function radiusdConf(dir: string, auth: number, acct: number): string {
  return `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = \${exec_prefix}/sbin
logdir = ${dir}
raddbdir = ${dir}
radacctdir = ${dir}
name = freeradius
confdir = \${raddbdir}
modconfdir = \${confdir}/mods-config
run_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 0
max_requests = 1024
log {
  destination = stdout
}
security {
  allow_core_dumps = no
}
client local {
  ipaddr = 127.0.0.1
  secret = ${SECRET}
}
modules {
  files {
    filename = ${dir}/users
  }
  pap {
  }
  always ok {
    rcode = ok
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${auth}
  }
  listen {
    type = acct
    ipaddr = 127.0.0.1
    port = ${acct}
  }
  authorize {
    files
    pap
  }
  authenticate {
    pap
  }
  accounting {
    ok
  }
}
`;
}

/** Starts freeradius -X and resolves once it says it is ready. */
interface Radiusd {
  proc: ChildProcess;
  /** Resolves once the debug output matches (the log line may trail the UDP reply). */
  seen(re: RegExp): Promise<void>;
}

function startRadiusd(dir: string): Promise<Radiusd> {
  return new Promise((resolve, reject) => {
    const proc = spawn('freeradius', ['-X', '-d', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = (re: RegExp): Promise<void> =>
      new Promise((done) => {
        const check = (): void => {
          if (!re.test(out)) return;
          proc.stdout?.off('data', check);
          done();
        };
        proc.stdout?.on('data', check);
        check();
      });
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to process requests')) resolve({ proc, seen });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('error', (err) => reject(new Error(`cannot start freeradius (apt-get install freeradius): ${err.message}`)));
    proc.once('exit', (c) => reject(new Error(`freeradius exited with ${String(c)}:\n${out}`)));
  });
}

describe('radius against FreeRADIUS', () => {
  let radiusd: Radiusd;
  let client: RadiusClient;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-radius-'));
    const [auth, acct] = [await freeUdpPort(), await freeUdpPort()];
    writeFileSync(join(dir, 'radiusd.conf'), radiusdConf(dir, auth, acct));
    writeFileSync(join(dir, 'users'), 'alice Cleartext-Password := "wonderland"\n\tFramed-IP-Address = 127.0.0.9\nbob Cleartext-Password := "a password longer than sixteen bytes"\n');
    radiusd = await startRadiusd(dir);
    client = new RadiusClient({ secret: SECRET, servers: [{ host: '127.0.0.1', port: auth, accountingPort: acct }], timeoutMs: 3000 });
  });
  afterAll(async () => {
    // beforeAll may have failed before radiusd started: its own error is the one to report.
    const proc = (radiusd as Radiusd | undefined)?.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  });

  const env = (accounting: boolean): ReturnType<typeof makeEnv> =>
    makeEnv({ config: { radius: { secret: SECRET, servers: ['127.0.0.1'], accounting } }, symbols: [[RADIUS_CLIENT_SYMBOL, client]] });
  const acl = [{ allow: { users: ['alice', 'bob'] } }, { deny: {} }];

  const cases: [string, string, string, number, string | null][] = [
    ['accepts alice; Framed-IP-Address is the outgoing address', 'alice', 'wonderland', 0, '127.0.0.9'],
    ['accepts a password over 16 bytes', 'bob', 'a password longer than sixteen bytes', 0, null],
    ['rejects a wrong password', 'alice', 'nope', 4, null],
    ['rejects an unknown user', 'mallory', 'x', 4, null],
  ];
  it.each(cases)('%s', async (_n, user, password, want, ext) => {
    const out = await service({ auth: ['radius'], acl }, env(false))(makeSession({ user, password }));
    expect([code(out), out.session.externalAddress]).toEqual([want, ext]);
  });

  it('accounting Start and Stop are acknowledged', async () => {
    const out = await service({ auth: ['radius'], acl }, env(true))(makeSession({ user: 'alice', password: 'wonderland' }));
    expect(code(out)).toBe(0);
    await radiusd.seen(/Acct-Status-Type = Start/);
    const stop = await client.account(
      { user: 'alice', password: null, sessionId: 'x.1', clientAddress: '10.0.0.1', localAddress: '127.0.0.1', servicePort: 3128, nasIdentifier: 'PROXY', targetHost: 'example.com', targetAddress: null, targetPort: 443, operationBit: 1 },
      { bytesIn: 5000, bytesOut: 10, seconds: 3 },
    );
    expect(stop).toBe(true);
    await radiusd.seen(/Acct-Input-Octets = 5000/);
  });
});
