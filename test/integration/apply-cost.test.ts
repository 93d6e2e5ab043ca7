/**
 * What an applied batch costs Redis with many partitions (gateway/store/region-store.ts `apply`):
 * the receiver merges queued batches up to APPLY_RECORDS_MAX (2048) records, and with a keyspace
 * of many partitions (up to 4096) such a batch touches about one partition per record. Redis is
 * single-threaded: its script time per batch sets the region's replication ceiling. A batch
 * over 2048 partitions takes as many script calls as one over a single partition (one: the
 * store groups partitions into calls by slot owner), and its Redis script time (Redis's own
 * accounting, INFO commandstats: not the client's wall time) stays under 2.5x: what remains
 * is each partition's own state (its applied seq, HLC and bucket digests: about 3 commands per
 * partition, and the new keys of a partition seen first). One call per partition cost 4.5x.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RegionStore } from '../../gateway/index.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';
import type { ChangeRecord } from '../../replicator/types.js';
import { packEntry } from '../../replicator/packed.js';

const PARTITIONS = 4096;
const BATCH = 2048; // APPLY_RECORDS_MAX of the receiver
const ROUNDS = 5;

const rec = (key: string, partition: number, seq: number): ChangeRecord => ({
  seq, keyspace: 'carts', key, partition, bucket: 3,
  record: { value: Buffer.from(`v-${key}`), contentType: 'text/plain', vv: { west: seq }, hlc: [1000 + seq, 0], origin: 'west', epoch: 0, tombstone: false },
});

/** Script calls and microseconds of script time, from Redis's own accounting. */
async function scriptStats(client: Redis): Promise<{ calls: number; usec: number }> {
  const info = await client.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

const median = (xs: readonly number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

describe('apply: the cost of a batch does not grow with its partitions', () => {
  let redis: RedisProcess;
  let client: Redis;
  beforeAll(async () => { ({ redis } = await startRedis()); client = new Redis(redis.url); });
  afterAll(async () => { client.disconnect(); await redis.stop(); });

  it('2048 changes over 2048 partitions: as many script calls and under 2.5x the Redis script time of 2048 over one partition', async () => {
    // key k<i> is in partition i*2 % 4096 when spread, else in partition 0
    const partitionOf = (spread: boolean, i: number) => (spread ? (i * 2) % PARTITIONS : 0);
    const run = async (spread: boolean, round: number) => {
      const store = new RegionStore(client, {
        region: 'east', prefix: `ac${spread ? 's' : 'o'}${round}:`, partitionOf: (_ks, key) => partitionOf(spread, Number(key.slice(1))),
        logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000,
      });
      const batch = Array.from({ length: BATCH }, (_, i) => packEntry(rec(`k${i}`, partitionOf(spread, i), i + 1)));
      const before = await scriptStats(client);
      const t0 = performance.now();
      const out = await store.apply('west', 'inc', batch);
      const wallMs = performance.now() - t0;
      const after = await scriptStats(client);
      expect(out.every((o) => o === 'applied')).toBe(true);
      expect(await store.appliedSeq('west', 'inc')).toBe(BATCH);
      return { wallMs, calls: after.calls - before.calls, redisMs: (after.usec - before.usec) / 1000 };
    };
    await run(false, -1);
    await run(true, -1); // the scripts loaded, the allocator warm
    const one: Awaited<ReturnType<typeof run>>[] = [];
    const many: Awaited<ReturnType<typeof run>>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      one.push(await run(false, r));
      many.push(await run(true, r));
    }
    const redisOne = median(one.map((x) => x.redisMs));
    const redisMany = median(many.map((x) => x.redisMs));
    const wallOne = median(one.map((x) => x.wallMs));
    const wallMany = median(many.map((x) => x.wallMs));
    console.log(`apply of ${BATCH}: one partition ${one[0]!.calls} script calls, median ${wallOne.toFixed(1)} ms wall, ${redisOne.toFixed(1)} ms Redis script time; `
      + `${BATCH} partitions ${many[0]!.calls} script calls, median ${wallMany.toFixed(1)} ms wall (${(wallMany / wallOne).toFixed(2)}x), `
      + `${redisMany.toFixed(1)} ms Redis script time (${(redisMany / redisOne).toFixed(2)}x)`);
    expect(many.every((x) => x.calls === one[0]!.calls), 'script calls of a batch over many partitions').toBe(true);
    expect(redisMany, 'Redis script time of one batch over many partitions vs one').toBeLessThan(2.5 * redisOne);
  });
});
