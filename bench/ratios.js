'use strict';
// Prints rx3proxy / node-pipe ratios (medians over reps) from bench/run.sh's raw.tsv.
const { readFileSync } = require('node:fs');
const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const vals = {};
for (const [impl, , key, v] of rows) {
  if (!/(_rps|_cps|_MBps|_p99_ms|_errors|_per_tunnel_kb|_rss_kb)$/.test(key)) continue;
  (vals[key] ??= {})[impl] ??= [];
  vals[key][impl].push(Number(v));
}
const median = (a) => { const s = [...a].filter((x) => !Number.isNaN(x)).sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
console.log('| figure | rx3proxy | node-pipe | ratio |');
console.log('|---|---|---|---|');
for (const [key, byImpl] of Object.entries(vals)) {
  const rx = median(byImpl['rx3proxy'] ?? []); const node = median(byImpl['node-pipe'] ?? []);
  // Ratios for rates and memory; latency and error counts are shown as they are.
  const ratio = key.endsWith('_p99_ms') || key.endsWith('_errors') ? '' : (rx / node).toFixed(2);
  console.log(`| ${key} | ${rx} | ${node} | ${ratio} |`);
}
