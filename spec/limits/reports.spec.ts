/**
 * Counter reports (3proxy `counter FILE PERIOD REPORTNAME`): one text file per ended period,
 * with each numbered counter's bytes of that period, written when the period rolls over (the
 * save schedule, start and stop check). Time is an injected clock moved across boundaries.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CounterStore } from '../../core/limits';
import type { AclRequest } from '../../core/acl';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { echoServer } from '../helpers/servers';
import { tcpConnect } from '../helpers/clients';

const req: AclRequest = { user: null, clientAddress: '10.0.0.1', targetHost: 'example.com', targetAddress: null, port: 80, operation: 'CONNECT', now: new Date(0) };

class Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

// Local time, so the file names below do not depend on the time zone.
const T0 = new Date(2026, 11, 1, 10, 59, 0).getTime();

describe('counter reports', () => {
  it('writes one file for the hour that ended, with that hour\'s bytes, then starts over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-report-'));
    const clock = new Clock(T0);
    const store = new CounterStore(
      [
        { id: 1, comment: 'downloads', direction: 'in', every: 'daily' },
        { id: 2, comment: 'uploads', direction: 'out', every: 'never' },
      ],
      clock,
      join(dir, 'counters.json'),
      '/counters/rules',
      { every: 'hourly', file: join(dir, 'traffic-%Y-%m-%d-%H.txt') },
    );
    const sel = store.select(req);
    sel.in[0]!.add(1500, clock.now());
    sel.out[0]!.add(20, clock.now());
    store.periodic();
    expect(readdirSync(dir).filter((f) => f.startsWith('traffic'))).toEqual([]);

    clock.t = T0 + 90_000; // 11:00:30: the 10 o'clock hour has ended
    store.periodic();
    const first = join(dir, 'traffic-2026-12-01-10.txt');
    expect(readFileSync(first, 'utf8')).toBe('00001 00000000000000001500 #downloads\n00002 00000000000000000020 #uploads\n');
    // Counter totals are not the report's business: the daily counter keeps its bytes.
    expect(store.counter(1)!.bytes).toBe(1500);

    sel.in[0]!.add(7, clock.now());
    store.periodic();
    expect(store.reportsWritten).toEqual([first]);
    clock.t = T0 + 3_690_000; // 12:00:30
    store.stop();
    expect(readFileSync(join(dir, 'traffic-2026-12-01-11.txt'), 'utf8')).toBe('00001 00000000000000000007 #downloads\n00002 00000000000000000000 #uploads\n');
  });

  it('keeps the period\'s bytes across a restart and reports a period that ended while down', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-report-'));
    const clock = new Clock(T0);
    const spec = [{ id: 3, comment: 'all', every: 'never' as const }];
    const report = { every: 'daily' as const, file: join(dir, 'daily') };
    const a = new CounterStore(spec, clock, join(dir, 'c.json'), '/counters/rules', report);
    a.select(req).in[0]!.add(100, clock.now());
    a.stop();
    expect(a.reportsWritten).toEqual([]);

    clock.t = T0 + 86_400_000; // the next day
    const b = new CounterStore(spec, clock, join(dir, 'c.json'), '/counters/rules', report);
    b.load();
    b.start(60_000, (err) => {
      throw err;
    });
    b.stop();
    // No %: the period suffix of rotated logs (daily: NAME.YYYY.MM.DD of the day reported).
    expect(readFileSync(join(dir, 'daily.2026.12.01'), 'utf8')).toBe('00003 00000000000000000100 #all\n');
    expect(b.counter(3)!.bytes).toBe(100);
  });

  it('through a Runtime: bytes relayed by tcppm are in the report written when the clock crosses the period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3-report-'));
    const echo = await echoServer();
    const clock = new Clock(T0);
    const rt = Runtime.fromText(
      `
counters:
  file: counters.json
  report: { every: minutely, file: "report-%H%M" }
  rules:
    - { id: 7, comment: echo, direction: all }
services:
  - name: pm
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echo.port}
    accessLog: { to: none, format: json }
`,
      join(dir, 'rx3.yaml'),
      { logger: silentLogger(), clock },
    );
    try {
      await rt.start();
      const c = await tcpConnect(rt.ports()['pm']!);
      const back = new Promise<void>((resolve) => {
        let got = 0;
        c.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= 1000) resolve();
        });
      });
      c.write(Buffer.alloc(1000, 1));
      await back;
      c.end();
      await rt.whenIdle();
      expect(existsSync(join(dir, 'report-1059'))).toBe(false);
      clock.t = T0 + 61_000;
    } finally {
      await rt.stop(0);
      await echo.close();
    }
    // 1000 bytes out to the echo server and 1000 back, on one `all` counter.
    expect(readFileSync(join(dir, 'report-1059'), 'utf8')).toBe('00007 00000000000000002000 #echo\n');
    const saved = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8'));
    expect(saved.counters['7'].bytes).toBe(2000);
    expect(saved.report.bytes['7']).toBe(0);
  });
});
