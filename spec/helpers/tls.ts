/**
 * TLS test material and a logged in-process proxy: certificates are made with the openssl CLI
 * in a temporary directory for each run (never checked in), and the proxy's server log and
 * access records are kept so tests wait on them instead of sleeping.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Runtime } from '../../core/runtime';
import type { AccessRecord } from '../../operators/log/record';

export class CertDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'rx3proxy-tls-'));

  path(name: string): string {
    return join(this.dir, name);
  }

  private openssl(args: readonly string[]): void {
    execFileSync('openssl', args, { stdio: 'ignore', cwd: this.dir });
  }

  /** A self-signed CA `name`.pem / `name`.key. */
  ca(name: string, cn = `rx3proxy test ${name}`): void {
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`]);
  }

  /** A P-256 key and a certificate for `cn`, signed by CA `ca` (or self-signed when null), with optional subjectAltName. */
  issue(name: string, cn: string, ca: string | null, san?: string): void {
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
    if (ca === null) {
      this.openssl(['req', '-x509', ...key, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`]);
      return;
    }
    this.openssl(['req', ...key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    const ext = san === undefined ? [] : (writeFileSync(this.path(`${name}.ext`), `subjectAltName=${san}\n`), ['-extfile', `${name}.ext`]);
    this.openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...ext]);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LoggedProxy {
  readonly rt: Runtime;
  readonly ports: Record<string, number>;
  readonly logs: Record<string, unknown>[];
  readonly records: AccessRecord[];
  /** Resolves with the first server log entry for which `pred` holds (now or later). */
  waitForLog(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the first access record for which `pred` holds (now or later). */
  waitForRecord(pred: (r: AccessRecord) => boolean): Promise<AccessRecord>;
}

/** Waits for the first item of `list` matching `pred`; `waiters` are called whenever it grows. */
function firstOf<T>(list: T[], waiters: Set<() => void>, pred: (v: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const check = (): void => {
      const hit = list.find(pred);
      if (hit === undefined) return;
      waiters.delete(check);
      resolve(hit);
    };
    waiters.add(check);
    check();
  });
}

/** Runs `yaml` (written to `file`, so relative paths resolve next to it) with its logs recorded. */
export async function startLogged(yaml: string, file: string): Promise<LoggedProxy> {
  writeFileSync(file, yaml);
  const logs: Record<string, unknown>[] = [];
  const records: AccessRecord[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const sink = new Writable({
    write: (c: Buffer, _e, cb) => {
      for (const line of c.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      wake();
      cb();
    },
  });
  const rt = Runtime.fromText(yaml, file, { logger: pino({ level: 'info' }, sink) });
  rt.accessLogs.listeners.add((r) => {
    records.push(r);
    wake();
  });
  await rt.start();
  return {
    rt,
    ports: rt.ports(),
    logs,
    records,
    waitForLog: (pred) => firstOf(logs, waiters, pred),
    waitForRecord: (pred) => firstOf(records, waiters, pred),
  };
}
