/**
 * Local stand-ins for the registry images the production files name (`node:20-bookworm-slim`
 * in infra/Dockerfile, `redis:7-bookworm` in infra/docker-compose.yml), for machines that
 * reach no container registry. Made from a `debootstrap --variant=minbase bookworm` root file
 * system (built once per machine and kept in a cache directory) plus the host's Node and npm,
 * or plus Debian's redis-server, and imported with the tag the files name. Nothing is pulled.
 *
 * An image that already carries the tag is used as it is: a real registry image, or a stand-in
 * made from the same recipe (label `geogate.standin=<recipe hash>`). A stand-in made from an
 * older recipe is made again.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const NODE_BASE_TAG = 'node:20-bookworm-slim';
export const REDIS_BASE_TAG = 'redis:7-bookworm';
export const STANDIN_LABEL = 'geogate.standin';
/** Bump when a recipe below changes, so stand-ins made by the old one are made again. */
export const STANDIN_RECIPE_VERSION = 1;
export const DEFAULT_CACHE_DIR = '/var/cache/geogate';
export const DEBIAN_SUITE = 'bookworm';
export const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** Bounds of the slow steps (measured: debootstrap ~45 s, apt-get install redis-server ~15 s, import ~6 s). */
export const DEBOOTSTRAP_TIMEOUT_MS = 600_000;
export const CHROOT_STEP_TIMEOUT_MS = 300_000;
export const IMPORT_TIMEOUT_MS = 300_000;
/** Output kept from a failed step for its error message. */
const OUTPUT_TAIL_CHARS = 4000;

export class BaseImageError extends Error {
  override readonly name = 'BaseImageError';
}

export interface BaseImageOptions {
  /** Where the bookworm root file system is kept between runs (GEOGATE_IMAGE_CACHE, else /var/cache/geogate). */
  cacheDir?: string;
  /** Debian mirror for debootstrap (GEOGATE_DEBIAN_MIRROR, else the first bookworm URI of the host's apt sources). */
  mirror?: string;
  log?: (message: string) => void;
}

export interface BaseImageResult {
  tag: string;
  /** `existing`: the tag was there (registry image or same-recipe stand-in); `built`: made now. */
  outcome: 'existing' | 'built';
  ms: number;
}

/**
 * The Debian mirror of `suite` named by apt sources: one-line (`deb [opts] URI suite comp…`)
 * and deb822 (`URIs:` / `Suites:` stanzas) formats. Security and non-Debian sources are skipped.
 */
export function debianMirror(sourceTexts: readonly string[], suite = DEBIAN_SUITE): string | undefined {
  const candidates: string[] = [];
  for (const text of sourceTexts) {
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m && m[2] === suite) candidates.push(m[1]!);
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (!field('Types').includes('deb') || !field('Suites').includes(suite)) continue;
      candidates.push(...field('URIs'));
    }
  }
  return candidates.find((uri) => /^https?:\/\//.test(uri) && /\/debian\/?$/.test(uri));
}

function hostAptSources(): string[] {
  const texts: string[] = [];
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) if (/\.(list|sources)$/.test(name)) texts.push(readFileSync(join(dir, name), 'utf8'));
  return texts;
}

/** Recipe of the shared root file system (the cache key). */
export function rootfsRecipe(mirror: string): string {
  return `debootstrap --variant=minbase ${DEBIAN_SUITE} ${mirror}; recipe ${STANDIN_RECIPE_VERSION}`;
}

export function recipeHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The stand-in's recipe: its tag, the rootfs recipe, the host's Node version for the Node image. */
export function standinRecipe(tag: string, rootfs: string, nodeVersion: string): string {
  const image = JSON.stringify(IMAGE_CHANGES[tag] ?? []);
  return tag === NODE_BASE_TAG
    ? `${tag}; ${rootfs}; host node ${nodeVersion}, npm, user node 1000, host CA bundle; ${image}`
    : `${tag}; ${rootfs}; apt redis-server; ${REDIS_ENTRYPOINT}; ${image}`;
}

/** Runs a command; on failure throws with the command and the tail of its output. */
async function step(file: string, args: string[], timeoutMs: number, input?: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    if (input && child.stdin) input.pipe(child.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new BaseImageError(`${file} ${args.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new BaseImageError(`${file} ${args.join(' ')} ${signal ? `killed (${signal}, bound ${timeoutMs} ms)` : `exited ${code}`}:\n${out}`));
    });
  });
}

/** `undefined` when no image has the tag; else its stand-in label ('' for an image that is no stand-in). */
async function imageLabel(tag: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${STANDIN_LABEL}" }}`, tag], { timeout: 30_000 });
    const label = stdout.trim();
    return label === '<no value>' ? '' : label;
  } catch {
    return undefined;
  }
}

async function imageId(tag: string): Promise<string | undefined> {
  try {
    return (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { timeout: 30_000 })).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The shared bookworm root file system, made once per cache directory and recipe. */
async function ensureRootfs(cacheDir: string, mirror: string, log: (m: string) => void): Promise<string> {
  const dir = join(cacheDir, `bookworm-minbase-${recipeHash(rootfsRecipe(mirror))}`);
  if (existsSync(join(dir, 'complete'))) return join(dir, 'rootfs');
  if (!existsSync('/usr/sbin/debootstrap') && !existsSync('/usr/bin/debootstrap')) {
    throw new BaseImageError('debootstrap is not installed (infra/scripts/setup.sh --test-tools installs it): it makes the bookworm root file system of the local base images');
  }
  mkdirSync(cacheDir, { recursive: true });
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  const startMs = performance.now();
  log(`debootstrap --variant=minbase ${DEBIAN_SUITE} from ${mirror} into ${work}`);
  await step('debootstrap', ['--variant=minbase', DEBIAN_SUITE, join(work, 'rootfs'), mirror], DEBOOTSTRAP_TIMEOUT_MS);
  // apt in the chroot (the redis stand-in) must not start services.
  writeFileSync(join(work, 'rootfs/usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  chmodSync(join(work, 'rootfs/usr/sbin/policy-rc.d'), 0o755);
  writeFileSync(join(work, 'complete'), `${rootfsRecipe(mirror)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  log(`root file system ready in ${Math.round(performance.now() - startMs)} ms`);
  return join(dir, 'rootfs');
}

function nodeDistribution(): { node: string; npm: string } {
  const node = process.execPath;
  const candidates = [join(dirname(node), '../lib/node_modules/npm'), '/usr/lib/node_modules/npm', '/usr/local/lib/node_modules/npm'];
  const npm = candidates.find((p) => existsSync(join(p, 'bin/npm-cli.js')));
  if (!npm) throw new BaseImageError(`npm not found beside ${node} (looked in ${candidates.join(', ')})`);
  return { node, npm };
}

function prepareNodeRootfs(root: string): void {
  const { node, npm } = nodeDistribution();
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  cpSync(node, join(root, 'usr/local/bin/node'), { dereference: true });
  cpSync(npm, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true, dereference: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
  if (!existsSync(HOST_CA_BUNDLE)) throw new BaseImageError(`${HOST_CA_BUNDLE} is missing: npm in the build container needs the host's CA bundle`);
  mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true });
  cpSync(HOST_CA_BUNDLE, join(root, HOST_CA_BUNDLE));
}

const REDIS_ENTRYPOINT = [
  '#!/bin/sh',
  '# Like the official image: redis-server without a config file listens on every interface',
  '# with protected mode off (the container network is the boundary).',
  'if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi',
  '# Passed through unchanged: --version/--help, and a config file as first argument.',
  'case "$1 ${2:-}" in',
  '  "redis-server -"*) case "$2" in -v|--version|-h|--help) ;; *) shift; exec redis-server --protected-mode no "$@";; esac;;',
  '  "redis-server ") exec redis-server --protected-mode no;;',
  'esac',
  'exec "$@"',
  '',
].join('\n');

const IMAGE_CHANGES: Record<string, string[]> = {
  [NODE_BASE_TAG]: [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `ENV NODE_EXTRA_CA_CERTS=${HOST_CA_BUNDLE}`,
    'CMD ["node"]',
  ],
  [REDIS_BASE_TAG]: [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'WORKDIR /data',
    'EXPOSE 6379',
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
    'CMD ["redis-server"]',
  ],
};

async function buildStandin(tag: string, rootfs: string, hash: string, log: (m: string) => void): Promise<void> {
  const work = `${rootfs}-${tag.replace(/[^a-z0-9]+/gi, '-')}-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  try {
    await step('cp', ['-a', rootfs, work], CHROOT_STEP_TIMEOUT_MS);
    if (tag === NODE_BASE_TAG) {
      prepareNodeRootfs(work);
      await step('chroot', [work, 'useradd', '--uid', '1000', '--create-home', '--shell', '/bin/bash', 'node'], CHROOT_STEP_TIMEOUT_MS);
    } else {
      cpSync('/etc/resolv.conf', join(work, 'etc/resolv.conf'), { dereference: true });
      await step('chroot', [work, 'apt-get', 'update', '-qq'], CHROOT_STEP_TIMEOUT_MS);
      await step('chroot', [work, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'redis-server'], CHROOT_STEP_TIMEOUT_MS);
      await step('chroot', [work, 'apt-get', 'clean'], CHROOT_STEP_TIMEOUT_MS);
      rmSync(join(work, 'var/lib/apt/lists'), { recursive: true, force: true });
      mkdirSync(join(work, 'var/lib/apt/lists/partial'), { recursive: true });
      writeFileSync(join(work, 'etc/resolv.conf'), '');
      mkdirSync(join(work, 'usr/local/bin'), { recursive: true });
      writeFileSync(join(work, 'usr/local/bin/docker-entrypoint.sh'), REDIS_ENTRYPOINT);
      chmodSync(join(work, 'usr/local/bin/docker-entrypoint.sh'), 0o755);
      mkdirSync(join(work, 'data'), { recursive: true });
      chmodSync(join(work, 'data'), 0o1777);
    }
    const changes = [...(IMAGE_CHANGES[tag] ?? []), `LABEL ${STANDIN_LABEL}=${hash}`].flatMap((c) => ['--change', c]);
    const tar = spawn('tar', ['-C', work, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const tarExit = new Promise<number | null>((resolve) => tar.on('close', resolve));
    await step('docker', ['import', ...changes, '-', tag], IMPORT_TIMEOUT_MS, tar.stdout);
    const tarCode = await tarExit;
    if (tarCode !== 0) {
      await run('docker', ['image', 'rm', tag]).catch(() => undefined);
      throw new BaseImageError(`tar of ${work} exited ${tarCode}: the imported ${tag} would be incomplete (removed)`);
    }
    log(`imported ${tag} (stand-in ${hash})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Makes sure `node:20-bookworm-slim` and `redis:7-bookworm` exist in the local engine, making
 * stand-ins where they are missing. Never pulls.
 */
export async function ensureBaseImages(options: BaseImageOptions = {}, tags: readonly string[] = [NODE_BASE_TAG, REDIS_BASE_TAG]): Promise<BaseImageResult[]> {
  const log = options.log ?? (() => {});
  const cacheDir = options.cacheDir ?? process.env.GEOGATE_IMAGE_CACHE ?? DEFAULT_CACHE_DIR;
  const results: BaseImageResult[] = [];
  let mirror: string | undefined;
  let rootfs: string | undefined;
  for (const tag of tags) {
    if (tag !== NODE_BASE_TAG && tag !== REDIS_BASE_TAG) throw new BaseImageError(`no stand-in recipe for ${tag} (known: ${NODE_BASE_TAG}, ${REDIS_BASE_TAG})`);
    const startMs = performance.now();
    mirror ??= options.mirror ?? process.env.GEOGATE_DEBIAN_MIRROR ?? debianMirror(hostAptSources());
    if (!mirror) throw new BaseImageError(`no Debian ${DEBIAN_SUITE} mirror in /etc/apt/sources.list*: set GEOGATE_DEBIAN_MIRROR`);
    const hash = recipeHash(standinRecipe(tag, rootfsRecipe(mirror), process.version));
    const label = await imageLabel(tag);
    if (label !== undefined && (label === '' || label === hash)) {
      results.push({ tag, outcome: 'existing', ms: Math.round(performance.now() - startMs) });
      continue;
    }
    if (label) log(`${tag} is a stand-in of another recipe (${label}); making it again`);
    if (process.getuid?.() !== 0) throw new BaseImageError(`${tag} is missing and making its stand-in needs root (debootstrap, chroot): run infra/images/base.ts as root, or load the image from a registry`);
    rootfs ??= await ensureRootfs(cacheDir, mirror, log);
    const previousId = label ? await imageId(tag) : undefined;
    await buildStandin(tag, rootfs, hash, log);
    // The stand-in it replaces, now untagged (kept while a container or an image still uses it).
    if (previousId) await run('docker', ['image', 'rm', previousId], { timeout: 60_000 }).catch(() => undefined);
    results.push({ tag, outcome: 'built', ms: Math.round(performance.now() - startMs) });
  }
  return results;
}
