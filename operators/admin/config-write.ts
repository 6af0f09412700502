/**
 * `PUT /api/config` (3proxy admin's `writable`): a new config text replaces the running config
 * file, then the Supervisor reloads it.
 *
 *   body (YAML or JSON) -> the loader with the running process's schema (built-ins + plugins)
 *     invalid -> 422 with every FILE:LINE:COL problem; the file is not touched
 *     valid   -> temp file next to it + rename (a reader never sees half a file)
 *             -> reload; if the reload refuses it (a port taken, a service that cannot be
 *                built), the previous text is put back the same way, so the file on disk
 *                stays what is running
 */
import type { IncomingMessage } from 'node:http';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadConfigText } from '../../config/load';
import { buildConfigSchema } from '../../schemas/build';
import { formatProblem, toProxyError } from '../../core/errors';
import type { JsonSchema } from '../../core/operator';
import type { Runtime } from '../../core/runtime';
import type { ReloadControl } from '../../core/introspect';

/** Larger than any config seen in practice (10,000 users is under 1 MiB), small enough to hold. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: boolean };

export function readBody(req: IncomingMessage, max = MAX_CONFIG_BYTES): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      resolve(r);
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // Stop holding it; the answer closes the connection.
        chunks.length = 0;
        req.pause();
        finish({ ok: false, tooLarge: true });
      } else chunks.push(c);
    });
    req.once('end', () => finish({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
    req.once('error', () => finish({ ok: false, tooLarge: false }));
    req.once('close', () => finish({ ok: false, tooLarge: false }));
  });
}

/** The schema the running process validates with: its registries plus what its plugins added. */
export function liveSchema(rt: Runtime): JsonSchema {
  return buildConfigSchema({
    operators: rt.env.operators.entries().map(([, v]) => v),
    templates: rt.env.templates.entries().map(([, v]) => v),
    extraSections: rt.plugins.commandSchemas(),
  });
}

/** Every problem of `text` as `FILE:LINE:COL: /pointer: message`; empty when it would load. */
export function configProblems(text: string, file: string, schema: JsonSchema): string[] {
  try {
    loadConfigText(text, file, schema);
    return [];
  } catch (err) {
    const e = toProxyError(err);
    return e.errors.length > 0 ? e.errors.map(formatProblem) : [`${file}:1:1: /: ${e.message}`];
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const mode = await stat(file).then(
    (s) => s.mode & 0o7777,
    () => 0o600,
  );
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export interface WriteOutcome {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Set when a reload ran (for the reload metric). */
  readonly reloaded?: boolean;
}

export async function writeConfig(rt: Runtime, control: ReloadControl, schema: JsonSchema, text: string): Promise<WriteOutcome> {
  const file = control.file;
  const problems = configProblems(text, file, schema);
  if (problems.length > 0) return { status: 422, body: { ok: false, written: false, error: 'PRX_ERR_CONFIG_INVALID', problems } };
  let previous: string;
  try {
    previous = await readFile(file, 'utf8');
    await writeAtomically(file, text);
  } catch (err) {
    return { status: 500, body: { ok: false, written: false, error: 'PRX_ERR_ADMIN_WRITE', message: `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` } };
  }
  rt.logger.warn({ file, bytes: Buffer.byteLength(text) }, 'config file replaced through the admin API');
  const result = await control.reload('admin config write');
  if (result.ok) return { status: 200, body: { ...result, written: true, file, generation: control.generation }, reloaded: true };
  try {
    await writeAtomically(file, previous);
  } catch (err) {
    rt.logger.error({ file, err }, 'cannot restore the config file after a refused reload');
    return { status: 500, body: { ...result, written: true, restored: false, file, error: 'PRX_ERR_ADMIN_WRITE', generation: control.generation }, reloaded: false };
  }
  return { status: 422, body: { ...result, written: false, restored: true, file, error: 'PRX_ERR_CONFIG_INVALID', generation: control.generation }, reloaded: false };
}
