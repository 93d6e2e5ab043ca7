import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianMirror, NODE_BASE_TAG, recipeHash, REDIS_BASE_TAG, rootfsRecipe, standinRecipe } from './base-images.js';

const root = new URL('../..', import.meta.url).pathname;

describe('debianMirror', () => {
  it('takes the bookworm URI of a deb822 stanza, skipping security and other suites', () => {
    const sources = [
      'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
      'Types: deb\nURIs: https://deb.example.com/node_20.x\nSuites: nodistro\nComponents: main\n\n' +
        'Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n',
    ];
    expect(debianMirror(sources)).toBe('http://mirror.example/debian');
  });

  it('reads one-line sources with options, and answers undefined when none names the suite', () => {
    expect(debianMirror(['# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example.org/debian/ bookworm main\n'])).toBe('http://ftp.example.org/debian/');
    expect(debianMirror(['deb http://ftp.example.org/debian bullseye main\n'])).toBeUndefined();
    expect(debianMirror(['deb https://packages.example.com/apt bookworm main\n'])).toBeUndefined();
  });
});

describe('stand-in recipes', () => {
  it('differ per image and change with the host Node version and the mirror', () => {
    const rootfs = rootfsRecipe('http://a.example/debian');
    const node = recipeHash(standinRecipe(NODE_BASE_TAG, rootfs, 'v20.1.0'));
    expect(recipeHash(standinRecipe(NODE_BASE_TAG, rootfs, 'v20.2.0'))).not.toBe(node);
    expect(recipeHash(standinRecipe(REDIS_BASE_TAG, rootfs, 'v20.1.0'))).not.toBe(node);
    expect(recipeHash(rootfsRecipe('http://b.example/debian'))).not.toBe(recipeHash(rootfs));
  });
});

/** Top-level folders the sources of `dirs` import from (relative imports, followed folder by folder). */
function importedFolders(dirs: readonly string[]): Set<string> {
  const seen = new Set(dirs);
  const queue = [...dirs];
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : walk(path);
      return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
    });
  while (queue.length > 0) {
    for (const file of walk(join(root, queue.shift()!))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/from\s+'(\.\.?\/[^']+)'/g)) {
        const top = relative(root, resolve(dirname(file), m[1]!)).split('/')[0]!;
        if (!top.startsWith('..') && !seen.has(top)) {
          seen.add(top);
          queue.push(top);
        }
      }
    }
  }
  return seen;
}

describe('infra/Dockerfile', () => {
  it('copies every folder tsconfig.build.json compiles or its sources import, and bin/', () => {
    const dockerfile = readFileSync(`${root}infra/Dockerfile`, 'utf8');
    const copied = new Set([...dockerfile.matchAll(/^COPY[ \t]+(?!--from)(\S+)[ \t]+\S+[ \t]*$/gm)].map((m) => m[1]!.replace(/\/$/, '')));
    const build = JSON.parse(readFileSync(`${root}tsconfig.build.json`, 'utf8')) as { include: string[] };
    const missing = [...importedFolders(build.include), 'bin'].filter((dir) => !copied.has(dir));
    expect(missing, `folders the build needs but infra/Dockerfile does not copy: ${missing.join(', ')}`).toEqual([]);
  });

  it('names the base image the local stand-in is made for', () => {
    const dockerfile = readFileSync(`${root}infra/Dockerfile`, 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(new Set(bases)).toEqual(new Set([NODE_BASE_TAG]));
  });
});

describe('infra/docker-compose.yml', () => {
  it('names only images the deploy files build or the stand-ins cover', () => {
    const compose = readFileSync(`${root}infra/docker-compose.yml`, 'utf8');
    const images = new Set([...compose.matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]));
    expect(images).toEqual(new Set(['${GEOGATE_IMAGE:-geogate:latest}', REDIS_BASE_TAG]));
  });
});
