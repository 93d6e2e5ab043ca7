/**
 * What spreading an apply batch over partitions costs (gateway/store/region-store.ts `apply`:
 * the batch's partitions grouped into one applyChanges call on one Redis, script-keys.ts
 * `callGroups`; each partition keeps its own HLC and digests), same run, same redis-server: batches of 256 changes all of one partition against batches
 * spread over `partitions` partitions, rounds alternated. Reports changes applied per second
 * and the ratio. Run: node --import tsx bench/apply-split.ts [rounds] [batchesPerRound] [partitions]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RegionStore } from '../gateway/index.js';
import { RedisProcess } from '../infra/local/redis-process.js';
import { packEntry } from '../replicator/packed.js';

const rounds = Number(process.argv[2] ?? 6);
const batchesPerRound = Number(process.argv[3] ?? 200);
const partitions = Number(process.argv[4] ?? 16);
const BATCH = 256;
const VALUE = Buffer.alloc(100, 0x61);

const dir = mkdtempSync(join(tmpdir(), 'geogate-apply-split-'));
const redis = await RedisProcess.start({ dir, appendOnly: false });
const client = new Redis(redis.url);
/** key `<mode>-<partition>-<i>`: its partition is in its name */
const store = new RegionStore(client, { region: 'east', prefix: 'as:', partitionOf: (_ks, key) => Number(key.split('-')[1]), logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() });

let seq = 0;
async function round(mode: 'one' | 'spread'): Promise<number> {
  const t0 = performance.now();
  for (let b = 0; b < batchesPerRound; b++) {
    const batch = Array.from({ length: BATCH }, (_, i) => {
      const p = mode === 'one' ? 0 : i % partitions;
      const key = `${mode}-${p}-${(b * BATCH + i) % 20_000}`;
      return packEntry({ seq: ++seq, keyspace: 'orders', key, partition: p, bucket: i % 1024,
        record: { value: VALUE, contentType: 'application/octet-stream', vv: { west: seq }, hlc: [Date.now(), 0], origin: 'west', epoch: 0, tombstone: false } });
    });
    await store.apply('west', 'bench', batch);
  }
  return (batchesPerRound * BATCH) / ((performance.now() - t0) / 1000);
}

const rates = { one: [] as number[], spread: [] as number[] };
try {
  await round('one');
  await round('spread'); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const m of (r % 2 === 0 ? ['one', 'spread'] : ['spread', 'one']) as ('one' | 'spread')[]) rates[m].push(await round(m));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const one = median(rates.one);
  const spread = median(rates.spread);
  console.log(`apply, batches of ${BATCH}: one partition ${Math.round(one)} changes/s, spread over ${partitions} partitions ${Math.round(spread)} changes/s; spread/one ${(spread / one).toFixed(2)} (medians of ${rounds} rounds)`);
} finally {
  client.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
