/**
 * The deploy files as users run them: `infra/Dockerfile` built unchanged with `docker build`
 * (its `npm ci` runs for real), `infra/docker-compose.yml` brought up with docker-compose under
 * a project name of its own, a PUT at east read back at west, everything removed afterwards.
 *
 * Where no registry is reachable the base images the files name (node:20-bookworm-slim,
 * redis:7-bookworm) are made locally first (infra/images/base-images.ts); an image already
 * carrying the tag is used as it is. Nothing is pulled.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImages, NODE_BASE_TAG, REDIS_BASE_TAG } from '../../infra/images/index.js';
import { DEPLOY_IMAGE_LABEL, DEPLOY_IMAGE_TAG, deployBuildArgs } from '../../infra/images/deploy-image.js';
import { freePort } from '../../infra/local/ports.js';
import { command, docker } from './harness/docker.js';
import { PROJECT_ROOT, releaseEngine, requireEngine } from './harness/index.js';

const run = promisify(execFile);

const COMPOSE_FILE = join(PROJECT_ROOT, 'infra/docker-compose.yml');
/** A stable tag, so a later run reuses the build cache (the `npm ci` layer) of this one. */
const IMAGE_TAG = DEPLOY_IMAGE_TAG;
const IMAGE_LABEL = DEPLOY_IMAGE_LABEL;
const BASE_IMAGES_TIMEOUT_MS = 600_000;
const DOCKER_BUILD_TIMEOUT_MS = 600_000;
const COMPOSE_TIMEOUT_MS = 180_000;
const READY_TIMEOUT_MS = 60_000;
const REPLICATION_TIMEOUT_MS = 20_000;
const POLL_MS = 250;
const REQUEST_TIMEOUT_MS = 3_000;
/** Keys tried at east for one whose partition east writes and one west writes (answered 307). */
const KEYS_MAX = 64;

const { skip } = await requireEngine();

/** `docker-compose` (Debian's 1.29) or, without it, the `docker compose` v2 plugin. */
async function composeCommand(): Promise<string[]> {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    try {
      await run(cmd[0]!, [...cmd.slice(1), 'version'], { timeout: 30_000 });
      return cmd;
    } catch {
      // try the next
    }
  }
  throw new Error('neither docker-compose nor the docker compose plugin runs here (infra/scripts/setup.sh --test-tools installs docker-compose)');
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; location?: string }> {
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const location = res.headers.get('location');
    return { status: res.status, body: await res.text(), ...(location ? { location } : {}) };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
}

describe.skipIf(skip)('production Dockerfile and compose file', () => {
  const project = `geogate-deploy-${randomBytes(3).toString('hex')}`;
  const timings: Record<string, number> = {};
  const env: NodeJS.ProcessEnv = { ...process.env };
  let compose: string[] = [];
  let up = false;
  const ports: Record<string, number> = {};

  async function composeRun(args: string[], timeoutMs = COMPOSE_TIMEOUT_MS): Promise<string> {
    const [file, ...pre] = compose;
    try {
      const { stdout, stderr } = await run(file!, [...pre, '-p', project, '-f', COMPOSE_FILE, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
      return `${stdout}${stderr}`;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${compose.join(' ')} ${args.join(' ')}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  async function logsTail(): Promise<string> {
    return composeRun(['logs', '--no-color', '--tail', '30']).catch((err: Error) => err.message);
  }

  /** Polls `url` until `ok` accepts the answer; the error names the last answer and the services' logs. */
  async function until(what: string, url: string, ok: (r: { status: number; body: string }) => boolean, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    let last = { status: 0, body: 'not asked yet' };
    while (Date.now() < deadline) {
      last = await get(url);
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    throw new Error(`${what}: not within ${timeoutMs} ms (last answer ${last.status} ${last.body.slice(0, 300)})\n${await logsTail()}`);
  }

  beforeAll(async () => {
    let t = performance.now();
    const lap = (name: string) => {
      timings[name] = Math.round(performance.now() - t);
      t = performance.now();
    };
    // the test command's background prebuild (infra/images/prebuild.ts) of the same images:
    // waited for, so the two never build at once; what it left undone is built here
    const prebuild = Number(process.env.GEOGATE_PREBUILD_PID ?? 0);
    if (prebuild > 0) {
      const deadline = Date.now() + BASE_IMAGES_TIMEOUT_MS + DOCKER_BUILD_TIMEOUT_MS;
      while (existsSync(`/proc/${prebuild}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      lap(`waiting for the background prebuild (pid ${prebuild})`);
    }
    const base = await ensureBaseImages({ log: (m) => console.log(`[deploy] ${m}`) });
    lap(`base images (${base.map((b) => `${b.tag} ${b.outcome}`).join(', ')})`);

    // = `docker build -f infra/Dockerfile .` from the project root.
    await command('docker', deployBuildArgs(PROJECT_ROOT), DOCKER_BUILD_TIMEOUT_MS);
    lap('docker build -f infra/Dockerfile');
    // Earlier builds of this tag, now untagged (the cache layers still in use stay).
    await docker(['image', 'prune', '--force', '--filter', `label=${IMAGE_LABEL}`]).catch(() => undefined);

    compose = await composeCommand();
    for (const name of ['GEOGATE_EAST_PORT', 'GEOGATE_WEST_PORT', 'GEOGATE_WITNESS_PORT', 'GEOGATE_WAN_EW_CONTROL_PORT', 'GEOGATE_WAN_WE_CONTROL_PORT']) {
      ports[name] = await freePort();
      env[name] = String(ports[name]);
    }
    Object.assign(env, {
      GEOGATE_CLUSTER_SECRET: randomBytes(24).toString('hex'),
      GEOGATE_IMAGE: IMAGE_TAG,
      GEOGATE_PUBLISH_ADDR: '127.0.0.1',
    });
    up = true;
    await composeRun(['up', '-d', '--no-build']);
    lap(`${compose.join(' ')} up -d`);
    for (const [region, port] of [['east', ports.GEOGATE_EAST_PORT], ['west', ports.GEOGATE_WEST_PORT]] as const) {
      await until(`${region} /healthz`, `http://127.0.0.1:${port}/healthz`, (r) => r.status === 200, READY_TIMEOUT_MS);
      // Ready: Redis up, bootstrap done, the link up, owners learnt from the witness, leases held.
      await until(`${region} /readyz`, `http://127.0.0.1:${port}/readyz`, (r) => r.status === 200, READY_TIMEOUT_MS);
    }
    lap('both gateways ready');
    console.log(`[deploy] timings (ms): ${JSON.stringify(timings)}`);
  }, BASE_IMAGES_TIMEOUT_MS + DOCKER_BUILD_TIMEOUT_MS + COMPOSE_TIMEOUT_MS + 2 * READY_TIMEOUT_MS);

  afterAll(async () => {
    if (up) {
      const out = await composeRun(['down', '-v', '--remove-orphans', '--timeout', '5']).catch((err: Error) => err.message);
      const left = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]).catch(() => '');
      if (left) console.error(`[deploy] containers of ${project} left after down: ${left}\n${out}`);
    }
    await releaseEngine();
  }, COMPOSE_TIMEOUT_MS);

  it('builds the base images and the production image, which runs as the node user', async () => {
    const labels = await docker(['image', 'inspect', '--format', '{{.Config.User}} {{json .Config.Entrypoint}}', IMAGE_TAG]);
    expect(labels).toBe('node ["node","/app/bin/geogate.js"]');
    for (const tag of [NODE_BASE_TAG, REDIS_BASE_TAG]) expect(await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).toMatch(/^sha256:/);
    const help = await docker(['run', '--rm', IMAGE_TAG, '--help']);
    expect(help).toContain('gateway --config FILE');
  });

  it('runs every service of the compose file', async () => {
    const running = await docker(['ps', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'status=running', '--format', '{{.Label "com.docker.compose.service"}}']);
    expect(running.split('\n').sort()).toEqual(['east', 'redis-east', 'redis-west', 'wan-ew', 'wan-we', 'west', 'witness']);
  });

  it('takes a PUT at east that is then read at west', async () => {
    const east = `http://127.0.0.1:${ports.GEOGATE_EAST_PORT}`;
    const west = `http://127.0.0.1:${ports.GEOGATE_WEST_PORT}`;
    const value = { placedAt: 'east', token: randomBytes(8).toString('hex') };
    let key: string | undefined;
    let redirected: { key: string; location?: string } | undefined;
    const answers: number[] = [];
    for (let i = 0; i < KEYS_MAX && !(key && redirected); i += 1) {
      const candidate = `deploy-${i}`;
      const r = await get(`${east}/v1/kv/orders/${candidate}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
      answers.push(r.status);
      if (r.status === 200 || r.status === 201) key ??= candidate;
      else {
        expect(r.status, `PUT ${candidate} at east: ${r.body}`).toBe(307);
        redirected ??= { key: candidate, ...(r.location ? { location: r.location } : {}) };
      }
    }
    // A write for a partition west owns is sent to west's URL as the host reaches it (the
    // peer's publicUrl in infra/compose/east.json: the default published port), not to the relay.
    expect(redirected, `no key of the first ${KEYS_MAX} is written at west (answers ${answers.join(',')})`).toBeDefined();
    expect(redirected!.location).toBe(`http://localhost:7102/v1/kv/orders/${redirected!.key}`);
    expect(key, `no key of the first ${KEYS_MAX} is written at east (answers ${answers.join(',')})`).toBeDefined();
    const t = performance.now();
    const read = await until(`GET orders/${key} at west`, `${west}/v1/kv/orders/${key}`, (r) => r.status === 200, REPLICATION_TIMEOUT_MS);
    expect(JSON.parse(read.body)).toEqual(value);
    console.log(`[deploy] orders/${key} written at east, read at west after ${Math.round(performance.now() - t)} ms`);
  });
});
