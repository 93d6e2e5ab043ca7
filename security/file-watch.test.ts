import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchFiles, WATCHED_FILES_MAX } from './file-watch.js';

const dir = mkdtempSync(join(tmpdir(), 'geogate-watch-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let stops: (() => void)[] = [];
afterEach(() => { for (const s of stops) s(); stops = []; });

function watch(paths: string[]): { calls: () => number } {
  let n = 0;
  stops.push(watchFiles(paths, 20, () => { n++; }));
  return { calls: () => n };
}

describe('watchFiles: reload on a settled change of a credential file', () => {
  it('calls back once after a change has settled, not without one', async () => {
    const f = join(dir, 'a.secret');
    writeFileSync(f, 'one\n');
    const w = watch([f]);
    await sleep(120);
    expect(w.calls()).toBe(0);
    writeFileSync(f, 'two, longer\n');
    await sleep(120);
    expect(w.calls()).toBe(1);
  });

  it('a file replaced by rename (editors, secret managers) is seen', async () => {
    const f = join(dir, 'b.crt');
    writeFileSync(f, 'x');
    const w = watch([f]);
    writeFileSync(join(dir, 'b.tmp'), 'y'); // same size: the inode tells
    renameSync(join(dir, 'b.tmp'), f);
    await sleep(120);
    expect(w.calls()).toBe(1);
  });

  it('writes in quick succession (a certificate, then its key) make one reload, after the last', async () => {
    const cert = join(dir, 'c.crt');
    const key = join(dir, 'c.key');
    writeFileSync(cert, '1');
    writeFileSync(key, '1');
    const w = watch([cert, key]);
    for (let i = 0; i < 5; i++) {
      writeFileSync(i % 2 ? key : cert, `${i}${'-'.repeat(i + 1)}`);
      await sleep(8);
    }
    await sleep(150);
    expect(w.calls()).toBe(1);
  });

  it('a file that goes missing and comes back counts as changes; stop() ends the polling', async () => {
    const f = join(dir, 'd.token');
    writeFileSync(f, 't');
    let n = 0;
    const stop = watchFiles([f], 20, () => { n++; });
    rmSync(f);
    await sleep(100);
    expect(n).toBe(1);
    stop();
    writeFileSync(f, 'back');
    await sleep(100);
    expect(n).toBe(1);
  });

  it('nothing to watch or an interval of 0: no polling; too many files: a clear error', () => {
    expect(() => watchFiles([], 20, () => {})).not.toThrow();
    expect(() => watchFiles([join(dir, 'x')], 0, () => {})).not.toThrow();
    expect(() => watchFiles(Array.from({ length: WATCHED_FILES_MAX + 1 }, (_, i) => join(dir, `f${i}`)), 20, () => {})).toThrow(/at most 32/);
  });
});
