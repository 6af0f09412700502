'use strict';
// `npm start` on a fresh clone: build first when dist/ is missing or older than the sources.
const { existsSync, statSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const { execSync } = require('node:child_process');
const root = join(__dirname, '..');
const out = join(root, 'dist', 'cli.js');
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const srcDirs = ['core', 'operators', 'services', 'plugins', 'schemas', 'config'].map((d) => join(root, d)).filter(existsSync);
const srcTime = Math.max(statSync(join(root, 'cli.ts')).mtimeMs, ...srcDirs.map(newest));
if (!existsSync(out) || statSync(out).mtimeMs < srcTime) {
  process.stderr.write('rx3proxy: building dist/ (npm run build)\n');
  execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
}
