/**
 * `npx tsx infra/images/prebuild.ts`: makes the base images and builds the production image
 * the container suite's deploy test uses (base-images.ts, deploy-image.ts), ahead of that
 * suite. The test command (infra/scripts/test.sh) runs it in the background at the lowest CPU
 * priority while the unit and integration suites run: most of its minute and a half is
 * downloads (debootstrap, `npm ci` inside the build). The deploy test waits for it to end and
 * then finds both ready (an image already carrying its tag is kept; the build hits its cache).
 * Exit code 0 when both are ready, 1 otherwise (the deploy test then builds what is missing).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureBaseImages } from './base-images.js';
import { deployBuildArgs } from './deploy-image.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
/** The build's CPU weight (the default is 1024): it yields the CPUs to everything else. */
const BUILD_CPU_SHARES = 32;
const BUILD_TIMEOUT_MS = 600_000;

const t0 = performance.now();
const lap = () => Math.round(performance.now() - t0);
try {
  const base = await ensureBaseImages({ log: (m) => console.error(`prebuild: ${m}`) });
  console.error(`prebuild: base images ${base.map((b) => `${b.tag} ${b.outcome}`).join(', ')} at ${lap()} ms`);
  await run('docker', deployBuildArgs(ROOT, ['--cpu-shares', String(BUILD_CPU_SHARES)]), { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  console.error(`prebuild: production image built at ${lap()} ms`);
} catch (err) {
  const e = err as { stderr?: string; message: string };
  console.error(`prebuild: failed at ${lap()} ms (the deploy test builds what is missing): ${(e.stderr ?? '').trim().slice(-2000) || e.message}`);
  process.exitCode = 1;
}
