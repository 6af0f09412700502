#!/usr/bin/env node
// Prints A / B ratios (medians over reps) from a raw.tsv: by default the pairs bench/run.sh
// records (rx3proxy / node-pipe, and with TESTS=https the HTTPS listener / the plain one); or
// one given pair, e.g. two-hops / one-hop for bench/chain.sh (`ratios.js RAW two-hops one-hop`).
const { readFileSync } = require('node:fs');
const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const vals = {};
for (const [impl, , key, v] of rows) {
  if (!/(_rps|_cps|_MBps|_p99_ms|_errors|_per_tunnel_kb|_rss_kb)$/.test(key)) continue;
  (vals[key] ??= {})[impl] ??= [];
  vals[key][impl].push(Number(v));
}
const median = (a) => { const s = [...a].filter((x) => !Number.isNaN(x)).sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
function table(a, b, title) {
  const keys = Object.keys(vals).filter((k) => vals[k][a] !== undefined && vals[k][b] !== undefined);
  if (keys.length === 0) return;
  console.log(`| figure | ${title[0]} | ${title[1]} | ratio |`);
  console.log('|---|---|---|---|');
  for (const key of keys) {
    const x = median(vals[key][a]); const y = median(vals[key][b]);
    // Ratios for rates and memory; latency and error counts are shown as they are.
    const ratio = key.endsWith('_p99_ms') || key.endsWith('_errors') ? '' : (x / y).toFixed(2);
    console.log(`| ${key} | ${x} | ${y} | ${ratio} |`);
  }
  console.log('');
}
const pair = process.argv.slice(3);
if (pair.length === 2) table(pair[0], pair[1], pair);
else {
  table('rx3proxy', 'node-pipe', ['rx3proxy', 'node-pipe']);
  table('tls', 'plain', ['HTTPS listener', 'plain listener']);
}
