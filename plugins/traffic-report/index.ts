/**
 * traffic-report: per-user byte totals written to a JSON file, on a schedule and on stop
 * (what a 3proxy plugin replacing the traffic-count function would report).
 *
 *   finished request -> totals[user ?? '-'] += bytesIn/bytesOut, requests += 1   (traffic hook:
 *                       every request, logged or not, of every service or of `services`)
 *   every period and on stop -> write { generatedAt, users: { name: totals } } atomically
 *
 *   plugins:
 *     - module: traffic-report
 *       options: { file: ./traffic.json, every: hourly }
 */
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { definePlugin, type SchedulePeriod } from '../../index';

/** Totals for one user since the service started (3proxy counts are per process too). */
export interface UserTraffic {
  bytesIn: number;
  bytesOut: number;
  requests: number;
}

/** The report file's content. */
export interface TrafficReport {
  readonly generatedAt: string;
  readonly users: Record<string, UserTraffic>;
}

export interface TrafficReportOptions {
  file: string;
  every: SchedulePeriod;
  services?: string[];
}

export default definePlugin<TrafficReportOptions>({
  name: 'traffic-report',
  version: '1.0.0',
  schema: {
    $id: 'rx3proxy:plugin/traffic-report',
    type: 'object',
    additionalProperties: false,
    required: ['file'],
    properties: {
      file: { type: 'string', description: 'JSON report file; a relative path starts at the config file directory.' },
      every: {
        type: 'string',
        enum: ['minutely', 'hourly', 'daily', 'weekly', 'monthly', 'annually'],
        default: 'hourly',
        description: 'How often the report is rewritten (it is also written on stop).',
      },
      services: { type: 'array', items: { type: 'string' }, description: 'Count only these services (default: all).' },
    },
  },
  setup(api, options) {
    const file = resolve(api.configDir, options.file);
    const totals = new Map<string, UserTraffic>();
    api.hooks.traffic(
      (session) => {
        const key = session.user ?? '-';
        let t = totals.get(key);
        if (t === undefined) {
          t = { bytesIn: 0, bytesOut: 0, requests: 0 };
          totals.set(key, t);
        }
        t.bytesIn += session.bytesIn;
        t.bytesOut += session.bytesOut;
        t.requests += 1;
      },
      options.services === undefined ? undefined : { services: options.services },
    );
    api.schedule(options.every, () => {
      const report: TrafficReport = { generatedAt: new Date().toISOString(), users: Object.fromEntries(totals) };
      // Write then rename, so a reader never sees a half-written report.
      writeFileSync(`${file}.tmp`, JSON.stringify(report, null, 2) + '\n');
      renameSync(`${file}.tmp`, file);
      api.logger.debug({ file, users: totals.size }, 'traffic report written');
    });
  },
});
