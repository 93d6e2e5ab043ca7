/** `npx tsx infra/images/build.ts [projectRoot]`: builds dist/ if stale, then the local test image; prints its tag. */
import { resolve } from 'node:path';
import { buildLocalImage } from './local-image.js';
import { ensureDist } from './dist.js';

const projectRoot = resolve(process.argv[2] ?? new URL('../..', import.meta.url).pathname);
const dist = await ensureDist(projectRoot, ['dist/infra/wan/main.js']);
if (dist.warnings) console.error(`build finished with errors elsewhere in the tree:\n${dist.warnings}`);
const image = await buildLocalImage({ projectRoot, log: (m) => console.error(m) });
console.log(image.tag);
