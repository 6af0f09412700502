/**
 * Micro-benchmark of the ACL walk (not a test): 1,000 rules, 100,000 evaluations, each
 * request walking nearly the whole list before it matches (the worst case for first-match).
 *
 * Run (no build step; TypeScript transpiled in memory by the project's own compiler):
 *   node -e "require.extensions['.ts']=(m,f)=>m._compile(require('typescript').transpileModule(require('fs').readFileSync(f,'utf8'),{compilerOptions:{module:1,target:9}}).outputText,f);require('./bench/acl.bench.ts')"
 */
import { compileAcl } from '../core/acl';
import type { AclRequest, AclRuleSpec } from '../core/acl';

const RULES = 1000;
const EVALS = 100_000;

/** A mix of every field kind; none of the first 999 rules matches the benchmark requests. */
function rule(i: number): AclRuleSpec {
  const b = i % 250;
  switch (i % 5) {
    case 0:
      return { allow: { users: [`user${i}`, `team${b}*`], ports: [80, 443] } };
    case 1:
      return { deny: { sources: [`10.${b}.0.0/16`, `2001:db8:${i.toString(16)}::/48`] } };
    case 2:
      return { allow: { targets: [`*.site${i}.example`, `198.18.${b}.0/24`], operations: ['HTTP', 'HTTPS'] } };
    case 3:
      return { allow: { sources: [`172.16.${b}.1-172.16.${b}.200`], ports: ['8000-8100'], weekdays: ['1-5'] } };
    default:
      return { allow: { users: ['nobody'], times: ['09:00:00-18:00:00'] }, parents: [{ weight: 1000, type: 'socks5', host: '127.0.0.1', port: 1080 }] };
  }
}

const specs = Array.from({ length: RULES - 1 }, (_, i) => rule(i));
specs.push({ allow: {} });
const acl = compileAcl(specs);

const base: AclRequest = {
  user: 'alice',
  clientAddress: '192.168.1.10',
  targetHost: 'www.example.org',
  targetAddress: '203.0.113.5',
  port: 443,
  operation: 'CONNECT',
  now: new Date(2024, 0, 8, 12, 0, 0),
};
const requests: AclRequest[] = [
  base,
  { ...base, clientAddress: '2001:db9::1', targetHost: 'api.example.net', targetAddress: '2001:db9::2' },
  { ...base, user: null, clientAddress: '::ffff:192.168.1.11', port: 8080, operation: 'HTTP_GET' },
  { ...base, user: 'bob', targetHost: '203.0.113.9', targetAddress: null },
];

function run(n: number): number {
  let last = 0;
  for (let i = 0; i < n; i++) last += acl.evaluate(requests[i & 3] ?? base).index;
  return last;
}

if (acl.evaluate(base).index !== RULES - 1) throw new Error('benchmark requests must reach the last rule');
run(10_000); // warm-up so the JIT has compiled the hot path
const start = process.hrtime.bigint();
const check = run(EVALS);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const evals = EVALS / seconds;
process.stdout.write(
  `acl: ${RULES} rules, ${EVALS} evals in ${seconds.toFixed(3)} s: ${Math.round(evals).toLocaleString('en-US')} evals/s, ` +
    `${Math.round((evals * RULES) / 1e6)} M rule checks/s (checksum ${check})\n`,
);
