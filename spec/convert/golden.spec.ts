/**
 * Golden conversions: each fixtures/NAME.cfg converts to exactly fixtures/NAME.yaml, with the
 * listed warnings (CODE@LINE) and errors. Regenerate after an intended change with
 * `UPDATE_GOLDEN=1 npx jest spec/convert/golden.spec.ts`, then review the diff.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { convertLegacy } from '../../config/convert';
import { FIXTURES, codesAt, errorLines, fixtureReader } from './helpers';

interface GoldenCase {
  readonly cfg: string;
  readonly warnings: readonly string[];
  readonly errors?: readonly string[];
}

const CASES: readonly GoldenCase[] = [
  { cfg: 'canonical-sample.cfg', warnings: ['PRXWRN004@38', 'PRXWRN003@192'] },
  { cfg: 'col83-negative.cfg', warnings: ['PRXWRN004@20', 'PRXWRN002@37', 'PRXWRN007@39', 'PRXWRN002@52'], errors: ["col83-negative.cfg:16: Unknown command: 'zeefeer:CL:zeefeer' (a password entry needs \"users\" in front of it)"] },
  { cfg: 'counters-sample.cfg', warnings: ['PRXWRN007@24'] },
  { cfg: 'flags.cfg', warnings: ['PRXWRN004@4'] },
  { cfg: 'ganin86-parent-900.cfg', warnings: ['PRXWRN004@12', 'PRXWRN006@17', 'PRXWRN007@19'] },
  { cfg: 'grffio-log-after-service.cfg', warnings: ['PRXWRN007@3', 'PRXWRN007@9', 'PRXWRN007@14', 'PRXWRN005@14'] },
  { cfg: 'howto-local-redirect.cfg', warnings: [] },
  { cfg: 'howto-tls-parents.cfg', warnings: ['PRXWRN003@13', 'PRXWRN007@13'] },
  { cfg: 'howto-tlspr.cfg', warnings: [] },
  { cfg: 'ipv6-egress-farm.cfg', warnings: ['PRXWRN003@14', 'PRXWRN003@15', 'PRXWRN003@16'] },
  { cfg: 'nansume.cfg', warnings: ['PRXWRN004@17', 'PRXWRN007@22', 'PRXWRN007@32', 'PRXWRN007@33', 'PRXWRN007@34', 'PRXWRN007@35', 'PRXWRN007@38'] },
  { cfg: 'pitfall-auth-none-acl.cfg', warnings: ['PRXWRN001@5'] },
  { cfg: 'pitfall-log-after-service.cfg', warnings: ['PRXWRN005@4'] },
  { cfg: 'pitfall-parents-short.cfg', warnings: ['PRXWRN006@4'] },
  { cfg: 'pitfall-strong-cache.cfg', warnings: ['PRXWRN002@4'] },
  { cfg: 'quoting-includes.cfg', warnings: [] },
  { cfg: 'snapshots.cfg', warnings: [] },
  { cfg: 'sql-sample.cfg', warnings: ['PRXWRN004@10', 'PRXWRN004@17', 'PRXWRN007@30'] },
  { cfg: 'syslog-template.cfg', warnings: ['PRXWRN007@10', 'PRXWRN007@19'] },
  { cfg: 'tarampampam-json-log.cfg', warnings: ['PRXWRN004@6', 'PRXWRN004@29'] },
  { cfg: 'tor-chain.cfg', warnings: ['PRXWRN004@3'] },
  { cfg: 'vprognet-flushed-acl.cfg', warnings: ['PRXWRN004@3', 'PRXWRN007@12', 'PRXWRN007@13', 'PRXWRN004@18', 'PRXWRN003@19'] },
];

const update = process.env['UPDATE_GOLDEN'] === '1';

describe.each(CASES)('golden $cfg', ({ cfg, warnings, errors }) => {
  const text = readFileSync(path.join(FIXTURES, cfg), 'utf8');
  const result = convertLegacy(text, cfg, { readFile: fixtureReader() });
  const goldenPath = path.join(FIXTURES, cfg.replace(/\.cfg$/, '.yaml'));
  if (update) writeFileSync(goldenPath, result.yaml);

  it('produces the golden YAML', () => {
    expect(result.yaml).toBe(readFileSync(goldenPath, 'utf8'));
  });

  it('reports the expected warnings and errors', () => {
    expect(codesAt(result)).toEqual(warnings);
    expect(errorLines(result)).toEqual(errors ?? []);
  });

  it('emits YAML that parses back to the returned config', () => {
    expect(parse(result.yaml)).toEqual(result.config);
  });
});
