/**
 * Every configuration in ../shared/reference/cfg-samples converts, except the negative
 * example INDEX.md names (col83: a bare `user:CL:pass` line, which 3proxy refuses with
 * "Unknown command"). The directory is read at test time, so new samples are covered.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { convertLegacy } from '../../config/convert';
import { expandIncludes } from '../../config/convert/tokenize';
import { errorLines } from './helpers';

const DIR = path.resolve(__dirname, '../../../shared/reference/cfg-samples');
const NEGATIVE = 'col83__zapret-fast__3proxy.cfg';
/**
 * Companion data files that are not config scripts: the nansume passwd list is read through
 * `users $/etc/3proxy/passwd`. As a script, 3proxy would refuse it exactly like col83.
 */
const USERS_FILES = new Set(['nansume__haihush-rootfs__etc-3proxy-passwd.cfg']);
/** The nansume config includes its companions by their installed paths. */
const COMPANIONS: Readonly<Record<string, string>> = {
  '/etc/3proxy/counters': 'nansume__haihush-rootfs__etc-3proxy-counters.cfg',
  '/etc/3proxy/bandlimiters': 'nansume__haihush-rootfs__etc-3proxy-bandlimiters.cfg',
};
/** Hermetic: only the companions are readable; every other include is missing here. */
const readFile = (file: string): string | undefined => {
  const name = COMPANIONS[file];
  return name === undefined ? undefined : readFileSync(path.join(DIR, name), 'utf8');
};

const samples = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.cfg')).sort() : [];
const convert = (file: string): ReturnType<typeof convertLegacy> => convertLegacy(readFileSync(path.join(DIR, file), 'utf8'), file, { readFile });

describe('cfg-samples', () => {
  it(`finds the sample directory ${DIR}`, () => {
    expect({ dir: DIR, exists: existsSync(DIR) }).toEqual({ dir: DIR, exists: true });
    expect(samples.length).toBeGreaterThan(50);
    expect(samples).toContain(NEGATIVE);
  });

  const positive = samples.filter((f) => f !== NEGATIVE && !USERS_FILES.has(f));
  it.each(positive)('%s converts without errors', (file) => {
    const r = convert(file);
    expect(errorLines(r)).toEqual([]);
    expect(r.config['version']).toBe(1);
    expect(parse(r.yaml)).toEqual(r.config);
  });

  it(`${NEGATIVE} fails like 3proxy: Unknown command at line 16`, () => {
    const r = convert(NEGATIVE);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ file: NEGATIVE, line: 16 });
    expect(r.errors[0]?.message).toMatch(/^Unknown command: 'zeefeer:CL:zeefeer'/);
  });

  it.each([...USERS_FILES])('%s is a users list: refused as a script, read fine as users $FILE arguments', (file) => {
    expect(convert(file).errors.map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^Unknown command: /)]));
    // The collector's `# source:`/`# note:` header lines are not in the real file: inside a
    // $file `#` starts no comment, so they would read as entries.
    const body = (p: string): string => readFileSync(path.join(DIR, p), 'utf8').replace(/^# (source|note):.*\n/gm, '');
    const { args } = expandIncludes([{ include: file, prefix: '' }], body);
    const r = convertLegacy(`users ${args.map((a) => `"${a}"`).join(' ')}\n`, 'users.cfg');
    expect(errorLines(r)).toEqual([]);
    expect(Object.keys(r.config['users'] as object)).toEqual(['admin', 'user1', 'user2']);
  });
});
