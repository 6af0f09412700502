/**
 * Runs rx3proxy in-process from a YAML text, on ephemeral ports, and records what it logs, so
 * tests can wait for access records (events) instead of sleeping.
 */
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import type { AccessRecord } from '../../operators/log/record';

export interface RunningProxy {
  readonly rt: Runtime;
  readonly ports: Record<string, number>;
  readonly records: AccessRecord[];
  readonly lines: string[];
  /** Resolves when at least `n` records were written (rejects after `timeoutMs`). */
  waitForRecords(n: number, timeoutMs?: number): Promise<AccessRecord[]>;
  stop(graceMs?: number): Promise<void>;
}

export async function startProxy(yaml: string, file = 'test.yaml'): Promise<RunningProxy> {
  const rt = Runtime.fromText(yaml, file, { logger: silentLogger() });
  const records: AccessRecord[] = [];
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  rt.accessLogs.listeners.add((r, line) => {
    records.push(r);
    lines.push(line);
    for (const w of waiters.splice(0)) w();
  });
  await rt.start();
  const waitForRecords = (n: number, timeoutMs = 10000): Promise<AccessRecord[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${n} access records, got ${records.length}: ${lines.join('\n')}`)), timeoutMs);
      const check = (): void => {
        if (records.length >= n) {
          clearTimeout(timer);
          resolve(records);
        } else waiters.push(check);
      };
      check();
    });
  return { rt, ports: rt.ports(), records, lines, waitForRecords, stop: (g = 0) => rt.stop(g) };
}
