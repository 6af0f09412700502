/**
 * Files shipped with the package (services/*.yaml, config/default.yaml, schemas/*.json) are
 * read from the package root, which is found by walking up from this module: the same code
 * works from the TypeScript sources (jest) and from dist/ (npm start, installed package).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let root: string | null = null;

export function packageRoot(): string {
  if (root !== null) return root;
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'services'))) {
      root = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('rx3proxy: cannot find the package root (package.json + services/)');
    dir = up;
  }
}
