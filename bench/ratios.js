'use strict';
// Prints A / B ratios (medians over reps) from a raw.tsv: rx3proxy / node-pipe for bench/run.sh
// (the default), two-hops / one-hop for bench/chain.sh (`ratios.js RAW two-hops one-hop`).
const { readFileSync } = require('node:fs');
const [a = 'rx3proxy', b = 'node-pipe'] = process.argv.slice(3);
const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const vals = {};
for (const [impl, , key, v] of rows) {
  if (!/(_rps|_cps|_MBps|_p99_ms|_errors|_per_tunnel_kb|_rss_kb)$/.test(key)) continue;
  (vals[key] ??= {})[impl] ??= [];
  vals[key][impl].push(Number(v));
}
const median = (a) => { const s = [...a].filter((x) => !Number.isNaN(x)).sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
console.log(`| figure | ${a} | ${b} | ratio |`);
console.log('|---|---|---|---|');
for (const [key, byImpl] of Object.entries(vals)) {
  const rx = median(byImpl[a] ?? []); const node = median(byImpl[b] ?? []);
  // Ratios for rates and memory; latency and error counts are shown as they are.
  const ratio = key.endsWith('_p99_ms') || key.endsWith('_errors') ? '' : (rx / node).toFixed(2);
  console.log(`| ${key} | ${rx} | ${node} | ${ratio} |`);
}
