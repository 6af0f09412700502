/** Scheduler: 3proxy's periods by an injected clock, jobs on reload and stop, no timer left behind. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Scheduler, type RunReason } from '../../core/scheduler';
import { Runtime } from '../../core/runtime';
import { Supervisor } from '../../core/reload';
import { silentLogger, type Logger } from '../../core/logger';
import type { SchedulePeriod } from '../../core/plugin-api';
import { FakeClock } from './fake-clock';

/** Thursday 31 December 2026, 23:59:30 local time: 30 s before a minute, hour, day, month and year roll over (not a week). */
const NEW_YEARS_EVE = new Date(2026, 11, 31, 23, 59, 30).getTime();
const PERIODS: readonly SchedulePeriod[] = ['minutely', 'hourly', 'daily', 'weekly', 'monthly', 'annually'];

function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger: Logger = pino({ level: 'info' }, stream);
  return { logger, lines };
}

function recorder(s: Scheduler): { runs: string[] } {
  const runs: string[] = [];
  for (const every of PERIODS) s.add({ owner: 'test', every, run: (why: RunReason) => void runs.push(`${every}:${why}`) });
  return { runs };
}

describe('Scheduler', () => {
  it('runs each job when its local-time period rolls over, and only then', async () => {
    const clock = new FakeClock(NEW_YEARS_EVE);
    const s = new Scheduler(clock, silentLogger(), clock);
    const { runs } = recorder(s);
    s.start();
    await clock.advance(29_000, () => s.idle());
    expect(runs).toEqual([]);
    await clock.advance(2_000, () => s.idle());
    expect(runs).toEqual(['minutely:period', 'hourly:period', 'daily:period', 'monthly:period', 'annually:period']);
    runs.length = 0;
    // Through Sunday 3 January 2027 00:00:30: two more days, one week.
    await clock.advance(2 * 86_400_000, () => s.idle());
    expect(runs.filter((r) => r === 'weekly:period')).toHaveLength(1);
    expect(runs.filter((r) => r === 'daily:period')).toHaveLength(2);
    expect(runs.filter((r) => r === 'hourly:period')).toHaveLength(48);
    expect(runs.filter((r) => r === 'minutely:period')).toHaveLength(48 * 60);
    expect(runs.filter((r) => r === 'monthly:period' || r === 'annually:period')).toEqual([]);
    s.stop();
  });

  it('arms no timer without jobs, one with jobs, none after stop', async () => {
    const clock = new FakeClock(NEW_YEARS_EVE);
    const empty = new Scheduler(clock, silentLogger(), clock);
    empty.start();
    expect(clock.armed).toBe(0);
    const s = new Scheduler(clock, silentLogger(), clock);
    const { runs } = recorder(s);
    s.start();
    expect(clock.armed).toBe(1);
    await clock.advance(120_000, () => s.idle());
    expect(clock.armed).toBe(1);
    s.stop();
    expect(clock.armed).toBe(0);
    runs.length = 0;
    await clock.advance(3_600_000, () => s.idle());
    expect(runs).toEqual([]);
  });

  it('runs every job on reload and stop; a failing job is logged and the others still run', async () => {
    const clock = new FakeClock(NEW_YEARS_EVE);
    const { logger, lines } = capturingLogger();
    const s = new Scheduler(clock, logger, clock);
    s.add({ owner: 'broken', every: 'hourly', run: () => Promise.reject(new Error('boom')) });
    const { runs } = recorder(s);
    await s.runAll('reload');
    expect(runs).toEqual(PERIODS.map((p) => `${p}:reload`));
    expect(lines.join('')).toMatch(/"owner":"broken".*scheduled job failed/);
    runs.length = 0;
    await s.runAll('stop');
    expect(runs).toEqual(PERIODS.map((p) => `${p}:stop`));
  });
});

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-sched-'));
const fixture = join(__dirname, 'fixtures', 'ticker.js');
const cfgFile = join(dir, 'proxy.yaml');
const config = (port = 0): string =>
  ['version: 1', 'plugins:', `  - { module: ${JSON.stringify(fixture)} }`, 'services:', `  - { name: t, type: tcppm, listen: "127.0.0.1:${port}", target: "127.0.0.1:9" }`, ''].join('\n');
const runsOf = (rt: Runtime): string[] => rt.env.symbols.get('ticker.runs') as string[];

describe('plugin api.schedule jobs', () => {
  it('run by their period under a Runtime, once more on stop, and leave no timer', async () => {
    const clock = new FakeClock(NEW_YEARS_EVE);
    const { logger, lines } = capturingLogger();
    const rt = Runtime.fromText(config(), cfgFile, { clock, timers: clock, logger });
    await rt.start();
    expect(clock.armed).toBe(1);
    await clock.advance(31_000, () => rt.scheduler.idle());
    expect(runsOf(rt)).toEqual(['minutely', 'hourly', 'daily', 'monthly', 'annually']);
    expect(lines.join('')).toMatch(/"owner":"ticker".*ticker job fails on purpose|ticker job fails on purpose.*"owner":"ticker"/);
    runsOf(rt).length = 0;
    await rt.stop(0);
    expect(runsOf(rt)).toEqual([...PERIODS]);
    expect(clock.armed).toBe(0);
  });

  it('on reload: the replaced runtime runs its jobs once and stops, the new one takes over the schedule', async () => {
    const clock = new FakeClock(NEW_YEARS_EVE);
    writeFileSync(cfgFile, config());
    const sup = new Supervisor(cfgFile, { clock, timers: clock, logger: silentLogger() });
    try {
      await sup.start();
      const first = sup.runtime;
      writeFileSync(cfgFile, config());
      expect((await sup.reload()).ok).toBe(true);
      await sup.whenRetired();
      expect(runsOf(first)).toEqual([...PERIODS]);
      expect(clock.armed).toBe(1);
      const second = sup.runtime;
      expect(second).not.toBe(first);
      await clock.advance(31_000, () => second.scheduler.idle());
      expect(runsOf(second)).toEqual(['minutely', 'hourly', 'daily', 'monthly', 'annually']);
      expect(runsOf(first)).toEqual([...PERIODS]);
    } finally {
      await sup.stop(0);
    }
    expect(clock.armed).toBe(0);
  });
});
