/**
 * The config in effect with its secrets replaced, for `GET /api/config`: user passwords, the
 * RADIUS secret, parent credentials, TLS private keys (and anything else named like a secret,
 * so a plugin section's `password:` is covered without a list to keep up to date).
 */
export const REDACTED = '[redacted]';

const SECRET_KEY = /^(password|passwd|pass|secret|key|passphrase|token|apiKey|privateKey)$/i;

function redactValue(value: unknown, key: string | null, inUsers: boolean): unknown {
  if (key !== null && SECRET_KEY.test(key) && value !== null && typeof value !== 'object') return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, null, false));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // `users: { name: "CL:secret" }`: every value is a password; `file:` is a path unless it holds one.
    if (inUsers && !(k === 'file' && typeof v === 'string' && !/^(CL|CR|NT):/.test(v))) out[k] = typeof v === 'string' ? REDACTED : redactValue(v, k, false);
    else out[k] = redactValue(v, k, k === 'users' && key === null);
  }
  return out;
}

export function redactConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return redactValue(config, null, false) as Record<string, unknown>;
}
