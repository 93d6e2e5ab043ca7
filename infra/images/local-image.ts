/**
 * Builds the test image without a registry: `FROM scratch` plus the files of `plan()`,
 * tagged `geogate-local:<hash of inputs>` so it is rebuilt only when an input changes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_IMAGE_BINARIES, ETC_FILES, plan, type RootfsFile } from './rootfs.js';

const run = promisify(execFile);

export const DEFAULT_LOCAL_IMAGE_REPO = 'geogate-local';
export const DEFAULT_IMAGE_BUILD_TIMEOUT_MS = 180_000;
/** Bump when the image layout changes, so old tags are not reused. */
export const LOCAL_IMAGE_LAYOUT_VERSION = 1;

export const LOCAL_IMAGE_DOCKERFILE = [
  'FROM scratch',
  'COPY rootfs/ /',
  'ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production',
  'WORKDIR /app',
  'CMD ["redis-server", "--protected-mode", "no", "--dir", "/data"]',
  '',
].join('\n');

export interface LocalImageOptions {
  projectRoot: string;
  binaries?: readonly string[];
  repo?: string;
  log?: (message: string) => void;
}

export interface LocalImage {
  tag: string;
  /** False when an image with the same inputs already existed. */
  built: boolean;
  files: number;
}

function hashTree(hash: ReturnType<typeof createHash>, path: string, byContent: boolean): void {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) hashTree(hash, join(path, name), byContent);
    return;
  }
  hash.update(path);
  if (byContent) hash.update(readFileSync(path));
  else hash.update(`${st.size}:${st.mtimeMs}:${st.mode}`);
}

/** Hash of every input: layout, Dockerfile, binaries and libraries (size, mtime), project files (content). */
export function inputsHash(files: readonly RootfsFile[]): string {
  const hash = createHash('sha256');
  hash.update(`layout:${LOCAL_IMAGE_LAYOUT_VERSION}\n${LOCAL_IMAGE_DOCKERFILE}${JSON.stringify(ETC_FILES)}`);
  for (const f of files) {
    hash.update(`\n${f.dest}<-`);
    const isNodeModule = f.dest.startsWith('/app/node_modules/');
    hashTree(hash, f.src, f.dest.startsWith('/app/') && !isNodeModule);
  }
  return hash.digest('hex').slice(0, 16);
}

async function imageExists(tag: string): Promise<boolean> {
  try {
    await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]);
    return true;
  } catch {
    return false;
  }
}

/** Removes earlier builds of the local image; one still used by a container stays (no force). */
async function removeOlderImages(keepTag: string): Promise<void> {
  const { stdout } = await run('docker', ['image', 'ls', '--filter', 'label=geogate.image=local', '--format', '{{.Repository}}:{{.Tag}}']);
  for (const tag of stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== keepTag && !l.endsWith(':<none>'))) {
    await run('docker', ['image', 'rm', tag]).catch(() => undefined);
  }
}

function writeContext(dir: string, files: readonly RootfsFile[]): void {
  const rootfs = join(dir, 'rootfs');
  for (const f of files) {
    const dest = join(rootfs, f.dest);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(f.src, dest, { recursive: true, dereference: true });
  }
  for (const [path, text] of Object.entries(ETC_FILES)) {
    mkdirSync(dirname(join(rootfs, path)), { recursive: true });
    writeFileSync(join(rootfs, path), text);
  }
  for (const path of ['tmp', 'data']) {
    mkdirSync(join(rootfs, path), { recursive: true });
    chmodSync(join(rootfs, path), 0o1777);
  }
  mkdirSync(join(rootfs, 'root'), { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), LOCAL_IMAGE_DOCKERFILE);
}

/** Builds the image when no image with the same inputs exists; returns its tag. */
export async function buildLocalImage(options: LocalImageOptions): Promise<LocalImage> {
  const log = options.log ?? (() => {});
  const files = plan(options.projectRoot, options.binaries ?? DEFAULT_IMAGE_BINARIES);
  const tag = `${options.repo ?? DEFAULT_LOCAL_IMAGE_REPO}:${inputsHash(files)}`;
  if (await imageExists(tag)) return { tag, built: false, files: files.length };
  const dir = mkdtempSync(join(tmpdir(), 'geogate-image-'));
  try {
    const startMs = performance.now();
    writeContext(dir, files);
    await run('docker', ['build', '--quiet', '--label', 'geogate.image=local', '-t', tag, dir], {
      timeout: DEFAULT_IMAGE_BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    log(`built ${tag} from ${files.length} inputs in ${Math.round(performance.now() - startMs)} ms`);
    await removeOlderImages(tag);
    return { tag, built: true, files: files.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
