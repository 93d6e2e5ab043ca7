import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateFileCorruptError } from './errors.js';
import { StateFile } from './state-file.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'geogate-witness-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const state = {
  owners: [{ keyspace: 'ks', partition: 0, owner: 'b', epoch: 7 }],
  decisions: [{ atMs: 1, keyspace: 'ks', partition: 0, fromOwner: 'a', toOwner: 'b', epoch: 7, reason: 'owner-unreachable' as const, requester: 'b', detail: 'x' }],
};

describe('StateFile', () => {
  it('starts fresh when missing and restores epochs after a save, leaving no temp file', async () => {
    const f = new StateFile(join(dir, 'w.json'), 'c1');
    expect(await f.load()).toBeUndefined();
    await f.save(state);
    expect(await new StateFile(join(dir, 'w.json'), 'c1').load()).toEqual(state);
    expect(await readdir(dir)).toEqual(['w.json']);
  });

  it('refuses a truncated, tampered or foreign file instead of resetting', async () => {
    const path = join(dir, 'w.json');
    const f = new StateFile(path, 'c1');
    await f.save(state);
    const good = await readFile(path, 'utf8');
    await writeFile(path, good.slice(0, good.length / 2));
    await expect(f.load()).rejects.toThrow(StateFileCorruptError);
    await writeFile(path, good.replace('"epoch\\":7', '"epoch\\":1'));
    await expect(f.load()).rejects.toThrow(/checksum mismatch/);
    await writeFile(path, good);
    await expect(new StateFile(path, 'other').load()).rejects.toThrow(/belongs to cluster c1/);
  });
});
