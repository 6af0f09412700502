'use strict';
// Regenerates schemas/config.schema.json from the built code (operators, sections, templates).
const { execSync } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
execSync('npx tsc -p tsconfig.build.json', { cwd: root, stdio: 'inherit' });
const { schemaFor } = require(join(root, 'dist/core/runtime.js'));
const { builtinRegistries } = require(join(root, 'dist/core/builtins.js'));
writeFileSync(join(root, 'schemas/config.schema.json'), JSON.stringify(schemaFor(builtinRegistries()), null, 2) + '\n');
process.stdout.write('schemas/config.schema.json written\n');
