// Copies the non-TypeScript assets the compiled code loads at run time (Lua scripts) into dist/.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const roots = ['gateway', 'witness', 'replicator', 'conflict', 'infra'];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.lua')) cpSync(path, join(root, 'dist', relative(root, path)));
  }
}
for (const r of roots) if (existsSync(join(root, r))) walk(join(root, r));
