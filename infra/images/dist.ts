/**
 * Keeps `dist/` current for images and processes that run the compiled code: rebuilds with
 * `npm run build` when a source file is newer than the last build or a required output is missing.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const BUILD_ROOTS: readonly string[] = ['gateway', 'witness', 'replicator', 'conflict', 'infra'];
export const BUILD_STAMP = 'dist/.build-stamp';
export const DEFAULT_BUILD_TIMEOUT_MS = 180_000;

function newestSourceMs(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) newest = Math.max(newest, newestSourceMs(path));
    else if ((name.endsWith('.ts') && !name.endsWith('.test.ts')) || name.endsWith('.lua')) newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

export function distIsStale(projectRoot: string, required: readonly string[]): boolean {
  const stamp = join(projectRoot, BUILD_STAMP);
  if (!existsSync(stamp) || required.some((p) => !existsSync(join(projectRoot, p)))) return true;
  const builtMs = statSync(stamp).mtimeMs;
  return BUILD_ROOTS.some((root) => newestSourceMs(join(projectRoot, root)) > builtMs);
}

export interface EnsureDistResult {
  built: boolean;
  /** Compiler complaints when the build exited non-zero but every required output exists. */
  warnings?: string;
}

/**
 * Builds when stale. tsc still emits when other parts of the tree have type errors, so a
 * failed build is accepted as long as every `required` output exists (the errors are returned).
 */
export async function ensureDist(projectRoot: string, required: readonly string[]): Promise<EnsureDistResult> {
  if (!distIsStale(projectRoot, required)) return { built: false };
  const startedMs = Date.now();
  let warnings: string | undefined;
  try {
    await run('npm', ['run', 'build'], { cwd: projectRoot, timeout: DEFAULT_BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    warnings = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message;
  }
  const missing = required.filter((p) => !existsSync(join(projectRoot, p)));
  if (missing.length > 0) throw new Error(`npm run build did not produce ${missing.join(', ')}:\n${warnings ?? ''}`);
  // Stamped even with errors elsewhere: a later source edit is newer than the stamp and rebuilds.
  writeFileSync(join(projectRoot, BUILD_STAMP), String(startedMs));
  return warnings ? { built: true, warnings } : { built: true };
}
