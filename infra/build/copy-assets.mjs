// Copies the non-TypeScript assets the compiled code loads at run time into dist/: the Lua
// scripts, and the status page's static files (gateway/ui/, served at /ui).
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const roots = ['gateway', 'witness', 'replicator', 'conflict', 'infra'];
const uiDir = join(root, 'gateway', 'ui');

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.lua')) cpSync(path, join(root, 'dist', relative(root, path)));
  }
}
for (const r of roots) if (existsSync(join(root, r))) walk(join(root, r));
if (!existsSync(join(uiDir, 'index.html'))) throw new Error(`status page assets missing: ${uiDir}`);
cpSync(uiDir, join(root, 'dist', 'gateway', 'ui'), { recursive: true });
