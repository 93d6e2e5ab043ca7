/**
 * A region's Redis comes back with older data while its gateway restarts too (issue 10):
 * an old RDB snapshot, or an append-only file that lost its last, not yet fsynced second.
 * Real redis-server processes, two gateways (east, west) meshed over loopback.
 */
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { eventually } from '../helpers/cluster.js';
import { allHave, putAcked, runCleanups, sleep, twoRegions, type Side } from '../helpers/two-regions.js';

afterEach(runCleanups);

/**
 * The scenario of issue 10: east writes, west has it all; east's Redis and gateway die;
 * Redis comes back with what `restore` puts into its directory (older data) and the
 * gateway restarts. Then east takes 300 writes.
 */
async function rollbackScenario(sides: { east: Side; west: Side }, checkpoint: () => Promise<void>, restore: () => void, opts: { peerAway?: boolean } = {}): Promise<void> {
  const { east, west } = sides;
  const expected = new Map<string, string>();
  // phase 1: in the snapshot
  for (let i = 0; i < 40; i++) {
    expect(await putAcked(east.gateway, `a${i}`, `a${i}-v1`)).toBeLessThan(300);
    expected.set(`a${i}`, `a${i}-v1`);
  }
  expect(await eventually(async () => (await allHave(west.gateway, expected)).length === 0, 10_000)).toBe(true);
  await checkpoint();
  // phase 2: after the snapshot, reaches west, lost by east's Redis
  for (let i = 0; i < 40; i++) {
    expect(await putAcked(east.gateway, `b${i}`, `b${i}-v1`)).toBeLessThan(300);
    expected.set(`b${i}`, `b${i}-v1`);
  }
  for (let i = 0; i < 10; i++) {
    expect(await putAcked(east.gateway, `a${i}`, `a${i}-v2`)).toBeLessThan(300);
    expected.set(`a${i}`, `a${i}-v2`);
  }
  expect(await eventually(async () => (await allHave(west.gateway, expected)).length === 0, 10_000)).toBe(true);

  // the host crashes: Redis killed hard, then the gateway (it cannot reach Redis any more)
  await east.redis.kill();
  await east.gateway.close();
  if (opts.peerAway) await west.gateway.close(); // west's gateway is away while east restarts (its Redis keeps its data)
  restore();
  await east.redis.start();
  const restartedAt = Date.now();
  east.gateway = await startGateway(east.config, { log: silentLogger() });
  // what the older data misses (b*, a0..a9 at v2): the test's own precondition
  const raw = new Redis(east.redis.url);
  const prefix = east.config.redis.keyPrefix;
  expect(await raw.exists(east.gateway.store.keys.record('carts', 'b39'))).toBe(0);
  raw.disconnect();

  // 300 writes at east after the restart (new keys, and keys the snapshot holds older versions of)
  const statuses: number[] = [];
  // a0..a4: the snapshot holds v1, the lost v2 is at west (with a reused counter, east's new
  // version would equal west's v2 and one of them would be lost without a conflict)
  for (let i = 0; i < 300; i++) {
    const key = i < 5 ? `a${i}` : i < 25 ? `a${15 + i}` : `c${i}`;
    const status = await putAcked(east.gateway, key, `${key}-after`);
    statuses.push(status);
    if (status < 300) expected.set(key, `${key}-after`);
  }
  expect(statuses.filter((s) => s >= 300), 'writes refused after the restart').toEqual([]);
  let backAt = restartedAt;
  if (opts.peerAway) {
    // east's gateway crashes once more before west returns (its Redis keeps its data): its
    // boot head is now above west's cursor, which can no longer give the rollback away
    await east.gateway.close();
    const r = new Redis(east.redis.url);
    await r.del(`${prefix}clean-stop`); // a crash writes no clean-stop mark
    r.disconnect();
    east.gateway = await startGateway(east.config, { log: silentLogger() });
    for (let i = 0; i < 20; i++) {
      const status = await putAcked(east.gateway, `d${i}`, `d${i}-after`);
      expect(status).toBeLessThan(300);
      expected.set(`d${i}`, `d${i}-after`);
    }
    backAt = Date.now();
    west.gateway = await startGateway(west.config, { log: silentLogger() });
  }

  const converged = await eventually(async () =>
    (await allHave(west.gateway, expected)).length === 0 && (await allHave(east.gateway, expected)).length === 0, 15_000, 100);
  const convergedMs = Date.now() - backAt;
  const missingWest = await allHave(west.gateway, expected);
  const missingEast = await allHave(east.gateway, expected);
  console.log(`${opts.peerAway ? 'peer back after the rollback restart' : 'rollback restart'} -> full convergence: ${converged ? `${convergedMs} ms` : 'not within 15 s'} (missing at west ${missingWest.length}, at east ${missingEast.length} of ${expected.size})`);
  expect(missingWest.slice(0, 10), `${missingWest.length} keys wrong at west`).toEqual([]);
  expect(missingEast.slice(0, 10), `${missingEast.length} keys wrong at east`).toEqual([]);
  // every value is the same in both regions, versions included
  for (const k of expected.keys()) expect((await east.gateway.store.get('carts', k))?.version, k).toBe((await west.gateway.store.get('carts', k))?.version);
}

describe('a Redis that comes back with older data while its gateway restarts (real redis-server)', () => {
  it('an RDB snapshot restored: writes after the restart reach the peer, what the snapshot lost comes back from it', async () => {
    const sides = await twoRegions({ appendOnly: false });
    const { east } = sides;
    const backup = join(east.dir, 'dump.rdb.bak');
    await rollbackScenario(sides, async () => {
      const raw = new Redis(east.redis.url);
      expect(await raw.save()).toBe('OK');
      raw.disconnect();
      cpSync(join(east.dir, 'dump.rdb'), backup);
    }, () => cpSync(backup, join(east.dir, 'dump.rdb')));
  });

  it('appendfsync everysec and a host crash that loses the last second: same guarantees', async () => {
    const sides = await twoRegions({ appendOnly: true });
    const { east } = sides;
    const aofDir = join(east.dir, 'appendonlydir');
    const synced = join(east.dir, 'appendonlydir.synced');
    await rollbackScenario(sides, async () => {
      // what the disk holds at the last fsync: the page cache of the writes after it dies
      // with the host (a kill -9 of redis-server alone would not lose it)
      await sleep(1200);
      cpSync(aofDir, synced, { recursive: true });
    }, () => {
      rmSync(aofDir, { recursive: true, force: true });
      cpSync(synced, aofDir, { recursive: true });
    });
  });

  it('an RDB snapshot restored while the peer is away (and another gateway crash before it returns): writes open after the check wait, nothing is lost when the peer returns', async () => {
    const sides = await twoRegions({ appendOnly: false });
    const { east } = sides;
    const backup = join(east.dir, 'dump.rdb.bak');
    await rollbackScenario(sides, async () => {
      const raw = new Redis(east.redis.url);
      expect(await raw.save()).toBe('OK');
      raw.disconnect();
      cpSync(join(east.dir, 'dump.rdb'), backup);
    }, () => cpSync(backup, join(east.dir, 'dump.rdb')), { peerAway: true });
  });
});
