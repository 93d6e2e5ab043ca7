/**
 * What goes into the local `FROM scratch` image: the host's own binaries with the shared
 * libraries `ldd` names, a minimal /etc, and the project's built output with its production
 * node_modules. Pure parsing here; the file system walk is in `plan()`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Binaries every container of the test image may run (testcontainers' port check needs sh, cat, awk, grep, timeout). */
export const DEFAULT_IMAGE_BINARIES: readonly string[] = [
  'redis-server', 'redis-cli', 'node', 'sh', 'cat', 'awk', 'grep', 'timeout', 'sleep', 'ls',
];

/** The project paths copied to /app. */
export const PROJECT_PATHS: readonly string[] = ['dist', 'bin', 'package.json'];

/** One file of the image: copied from `src` on the host to `dest` in the image. */
export interface RootfsFile {
  src: string;
  dest: string;
}

export const ETC_FILES: Readonly<Record<string, string>> = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n',
  '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  '/etc/nsswitch.conf': 'hosts: files dns\npasswd: files\ngroup: files\n',
  '/etc/hosts': '127.0.0.1 localhost\n',
};

/** Library paths from `ldd` output (`libc.so.6 => /lib/.../libc.so.6 (0x…)` and `/lib64/ld-linux….so.2 (0x…)`). */
export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) paths.add(path);
  }
  return [...paths].sort();
}

/** node_modules directories of production (non-dev) packages, from package-lock.json v2/v3. */
export function productionPackages(lockJson: string): string[] {
  const lock = JSON.parse(lockJson) as { packages?: Record<string, { dev?: boolean; devOptional?: boolean }> };
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev && !meta.devOptional)
    .map(([path]) => path)
    .sort();
}

export class ImageInputError extends Error {
  override readonly name = 'ImageInputError';
}

function which(binary: string): string {
  let path = '';
  try {
    path = execFileSync('sh', ['-c', 'command -v "$1"', 'sh', binary], { encoding: 'utf8' }).trim();
  } catch {
    // reported below
  }
  if (!path.startsWith('/')) throw new ImageInputError(`binary ${binary} not found on PATH (needed in the local image)`);
  return path;
}

/** Every file of the image except the generated /etc files and empty directories. */
export function plan(projectRoot: string, binaries: readonly string[] = DEFAULT_IMAGE_BINARIES): RootfsFile[] {
  const files = new Map<string, string>();
  for (const name of binaries) {
    const src = which(name);
    files.set(`/usr/bin/${name}`, src);
    if (name === 'sh') files.set('/bin/sh', src);
    let ldd = '';
    try {
      ldd = execFileSync('ldd', [src], { encoding: 'utf8' });
    } catch {
      // Static binaries make ldd exit non-zero: nothing to add.
    }
    for (const lib of parseLdd(ldd)) files.set(lib, lib);
  }
  for (const path of PROJECT_PATHS) {
    const src = join(projectRoot, path);
    if (!existsSync(src)) throw new ImageInputError(`${src} is missing (run npm run build)`);
    files.set(`/app/${path}`, src);
  }
  const lock = readFileSync(join(projectRoot, 'package-lock.json'), 'utf8');
  for (const pkg of productionPackages(lock)) {
    const src = join(projectRoot, pkg);
    if (existsSync(src)) files.set(`/app/${pkg}`, src);
  }
  return [...files].map(([dest, src]) => ({ src, dest })).sort((a, b) => a.dest.localeCompare(b.dest));
}
