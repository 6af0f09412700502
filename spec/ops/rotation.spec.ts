/**
 * Access-log rotation driven by the scheduler on an injected clock: a real tcppm service writes
 * records, the fake clock crosses minute boundaries, and the files on disk are checked.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import { rotatedName } from '../../operators/log/writer';
import { echoServer, type Fixture } from '../helpers/servers';
import { tcpConnect, readAll } from '../helpers/clients';
import { FakeClock } from './fake-clock';

/** 23:57:10 local on 31 December 2026. */
const T0 = new Date(2026, 11, 31, 23, 57, 10).getTime();

let echo: Fixture;
beforeAll(async () => {
  echo = await echoServer();
});
afterAll(() => echo.close());

function configFor(accessLog: string): string {
  return ['version: 1', accessLog, 'services:', `  - { name: t, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:${echo.port}" }`, ''].join('\n');
}

/** One session through the proxy; resolves once its access record was written and reached the file. */
async function oneSession(rt: Runtime, text: string): Promise<void> {
  const written = new Promise<void>((resolve) => {
    const hook = (): void => {
      rt.accessLogs.listeners.delete(hook);
      resolve();
    };
    rt.accessLogs.listeners.add(hook);
  });
  const s = await tcpConnect(rt.ports()['t']!);
  s.end(text);
  expect((await readAll(s)).toString()).toBe(text);
  await written;
  await rt.accessLogs.settleAll();
}

const minute = (t: number): string => {
  const d = new Date(t);
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}-${String(d.getHours()).padStart(2, '0')}${String(d.getMinutes()).padStart(2, '0')}`;
};

describe('accessLog.rotate', () => {
  it('opens a new file each period, gzips the closed one, keeps only `keep` old files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-rot-'));
    const clock = new FakeClock(T0);
    const accessLog = `accessLog: { to: ${JSON.stringify(join(dir, 'access-%Y%m%d-%H%M.log'))}, format: "L%I %O", rotate: { every: minutely, keep: 2 }, archiver: { ext: gz } }`;
    const rt = Runtime.fromText(configFor(accessLog), join(dir, 'proxy.yaml'), { clock, timers: clock, logger: silentLogger() });
    await rt.start();
    try {
      await oneSession(rt, 'first');
      expect(readdirSync(dir)).toEqual([`access-${minute(T0)}.log`]);
      const tick = (): Promise<void> => clock.advance(60_000, () => rt.scheduler.idle());

      await tick();
      const t1 = T0 + 60_000;
      // The boundary crossed, no record yet: the new period's file exists, the old one is only its archive.
      expect(readdirSync(dir).sort()).toEqual([`access-${minute(T0)}.log.gz`, `access-${minute(t1)}.log`]);
      const firstArchive = gunzipSync(readFileSync(join(dir, `access-${minute(T0)}.log.gz`))).toString();
      expect(firstArchive).toBe('5 5\n');
      await oneSession(rt, 'second!');
      expect(readFileSync(join(dir, `access-${minute(t1)}.log`), 'utf8')).toBe('7 7\n');

      // Two more minutes (one without records), crossing into 2027: three archives would exist, keep: 2 leaves the two newest.
      await tick();
      await oneSession(rt, 'third-xyz');
      await tick();
      const t3 = T0 + 3 * 60_000;
      expect(new Date(t3).getFullYear()).toBe(2027);
      expect(readdirSync(dir).sort()).toEqual([`access-${minute(t1)}.log.gz`, `access-${minute(t1 + 60_000)}.log.gz`, `access-${minute(t3)}.log`]);
      expect(existsSync(join(dir, `access-${minute(T0)}.log.gz`))).toBe(false);
      expect(gunzipSync(readFileSync(join(dir, `access-${minute(t1 + 60_000)}.log.gz`))).toString()).toBe('9 9\n');
    } finally {
      await rt.stop(0);
    }
    expect(clock.armed).toBe(0);
  });

  it('without % escapes names files with 3proxy period suffixes; an archiver command gets %F and %A; other files are left alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-rot-'));
    const base = join(dir, 'access.log');
    const clock = new FakeClock(new Date(2026, 11, 31, 23, 59, 50).getTime());
    const accessLog = `accessLog: { to: ${JSON.stringify(base)}, format: "L%I", rotate: { every: daily, keep: 0 }, archiver: { ext: old, command: [mv, "%F", "%A"] } }`;
    const rt = Runtime.fromText(configFor(accessLog), join(dir, 'proxy.yaml'), { clock, timers: clock, logger: silentLogger() });
    // A file in the same directory that only looks related must survive retention.
    writeFileSync(join(dir, 'access.log.keepme'), 'x');
    await rt.start();
    try {
      await oneSession(rt, 'one');
      expect(existsSync(`${base}.2026.12.31`)).toBe(true);
      await clock.advance(20_000, () => rt.scheduler.idle());
      // keep: 0 deletes the archived file right away; the new day's file is open.
      expect(readdirSync(dir).sort()).toEqual(['access.log.2027.01.01', 'access.log.keepme']);
    } finally {
      await rt.stop(0);
    }
  });

  it('keeps the archive when keep allows it (command archiver)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-rot-'));
    const base = join(dir, 'a.log');
    const clock = new FakeClock(new Date(2026, 5, 30, 10, 59, 59).getTime());
    const accessLog = `accessLog: { to: ${JSON.stringify(base)}, format: "L%I", rotate: { every: hourly, keep: 1 }, archiver: { ext: old, command: [mv, "%F", "%A"] } }`;
    const rt = Runtime.fromText(configFor(accessLog), join(dir, 'proxy.yaml'), { clock, timers: clock, logger: silentLogger() });
    await rt.start();
    try {
      await oneSession(rt, 'one');
      await clock.advance(2_000, () => rt.scheduler.idle());
      expect(readdirSync(dir).sort()).toEqual(['a.log.2026.06.30-10.old', 'a.log.2026.06.30-11']);
      expect(readFileSync(join(dir, 'a.log.2026.06.30-10.old'), 'utf8')).toBe('3\n');
    } finally {
      await rt.stop(0);
    }
  });

  it('names weekly files by their Sunday and minutely ones to the minute', () => {
    const wed = new Date(2026, 6, 15, 13, 4, 5);
    expect(rotatedName('/l/x', 'weekly', wed)).toBe('/l/x.2026.07.12');
    expect(rotatedName('/l/x', 'minutely', wed)).toBe('/l/x.2026.07.15-13.04');
    expect(rotatedName('/l/x', 'monthly', wed)).toBe('/l/x.2026.07');
    expect(rotatedName('/l/x', 'annually', wed)).toBe('/l/x.2026');
    expect(rotatedName('/l/%y%m%d.log', 'daily', wed)).toBe('/l/260715.log');
  });
});
