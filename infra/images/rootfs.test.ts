import { describe, expect, it } from 'vitest';
import { parseLdd, productionPackages } from './rootfs.js';
import { inputsHash } from './local-image.js';

describe('parseLdd', () => {
  it('takes resolved and bare library paths, skips the vdso and duplicates', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f18)',
      '\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f19)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f20)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f18)',
      '\tnot a dynamic executable',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libm.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
});

describe('productionPackages', () => {
  it('keeps packages not marked dev', () => {
    const lock = JSON.stringify({
      packages: {
        '': { name: 'geogate' },
        'node_modules/hono': {},
        'node_modules/vitest': { dev: true },
        'node_modules/fsevents': { devOptional: true },
        'node_modules/ws': { optional: true },
      },
    });
    expect(productionPackages(lock)).toEqual(['node_modules/hono', 'node_modules/ws']);
  });
});

describe('inputsHash', () => {
  it('changes when a project file changes', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'geogate-hash-'));
    writeFileSync(join(dir, 'a.js'), 'one');
    const files = [{ src: join(dir, 'a.js'), dest: '/app/dist/a.js' }];
    const first = inputsHash(files);
    expect(inputsHash(files)).toBe(first);
    writeFileSync(join(dir, 'a.js'), 'two');
    expect(inputsHash(files)).not.toBe(first);
  });
});
