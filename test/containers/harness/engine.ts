/**
 * Makes sure a Docker engine is there for the container suites (through
 * infra/scripts/ensure-docker.sh) and sets what testcontainers 11 needs on these machines.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docker, lines } from './docker.js';

const run = promisify(execFile);

export const PROJECT_ROOT = new URL('../../..', import.meta.url).pathname;
export const ENSURE_DOCKER_SCRIPT = join(PROJECT_ROOT, 'infra/scripts/ensure-docker.sh');
export const DEFAULT_ENGINE_TIMEOUT_MS = 180_000;

export interface Engine {
  available: boolean;
  /** PID of a dockerd this run started (stopped at teardown when nothing else runs on it). */
  startedPid?: number;
  reason?: string;
}

let engine: Promise<Engine> | undefined;

function configureTestcontainers(): void {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
}

async function ensure(): Promise<Engine> {
  configureTestcontainers();
  try {
    const { stdout } = await run('bash', [ENSURE_DOCKER_SCRIPT], { timeout: DEFAULT_ENGINE_TIMEOUT_MS });
    const started = /engine=started pid=(\d+)/.exec(stdout);
    return started ? { available: true, startedPid: Number(started[1]) } : { available: true };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { available: false, reason: (e.stderr ?? '').trim() || e.message };
  }
}

/** Once per process. */
export function ensureEngine(): Promise<Engine> {
  engine ??= ensure();
  return engine;
}

/**
 * For a suite's top level: resolves `{ skip: false }` when an engine is there. Without one the
 * suite fails with the reason, unless GEOGATE_SKIP_CONTAINERS=1, which skips it loudly.
 */
export async function requireEngine(): Promise<{ skip: boolean; reason?: string }> {
  const e = await ensureEngine();
  if (e.available) return { skip: false };
  const reason = `no Docker engine: ${e.reason ?? 'unknown'}`;
  if (process.env.GEOGATE_SKIP_CONTAINERS === '1') {
    console.warn(`\n!!! CONTAINER SCENARIOS SKIPPED (GEOGATE_SKIP_CONTAINERS=1): ${reason}\n`);
    return { skip: true, reason };
  }
  throw new Error(`${reason}\nSet GEOGATE_SKIP_CONTAINERS=1 to skip the container suites explicitly.`);
}

/** Stops the dockerd this process started, but only when no container at all is left on it. */
export async function releaseEngine(): Promise<void> {
  const e = await ensureEngine();
  if (!e.startedPid || process.env.GEOGATE_KEEP_DOCKERD === '1') return;
  const remaining = lines(await docker(['ps', '-aq']).catch(() => 'unknown'));
  if (remaining.length > 0) return;
  await run('bash', [ENSURE_DOCKER_SCRIPT, '--stop'], { timeout: 30_000 }).catch(() => undefined);
  engine = undefined;
}
