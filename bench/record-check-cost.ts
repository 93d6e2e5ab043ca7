/**
 * What the field check of received records (replicator/record-check.ts) costs the apply
 * path, same run, same machine: one redis-server, the same RegionStore apply script, batches
 * of 512 packed changes from a peer, rounds alternated between "checked" (gateway/replication.ts
 * `checkBatch` with a real 64-partition ring, then apply) and "unchecked" (apply only). Each
 * round writes fresh keys, so every record is applied (none dropped as a duplicate). Reports
 * applied records/s per mode and the ratio. Run: node --import tsx bench/record-check-cost.ts [rounds] [batchesPerRound]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RegionStore } from '../gateway/index.js';
import { parseGatewayConfig } from '../gateway/config.js';
import { PartitionMap } from '../gateway/partition-map.js';
import { checkBatch, recordCheckFor } from '../gateway/replication.js';
import { packEntry, type LogEntry } from '../replicator/packed.js';
import { RedisProcess } from '../infra/local/redis-process.js';

const rounds = Number(process.argv[2] ?? 8);
const batchesPerRound = Number(process.argv[3] ?? 60);
const BATCH = 512;
const VALUE = new Uint8Array(100).fill(0x61);

const config = parseGatewayConfig({
  region: 'east', listen: { port: 1 }, publicUrl: 'http://127.0.0.1:1', redis: { url: 'redis://127.0.0.1:1' },
  cluster: { id: 'bench', secret: 'bench-secret-0123456789abcdef', regions: ['east', 'west'] },
  keyspaces: [{ name: 'orders', partitions: 64 }],
}, 'bench');
const maps = new Map(config.keyspaces.map((ks) => [ks.name, new PartitionMap(ks, config.cluster.regions, config.merkle.buckets)]));
const map = maps.get('orders')!;
const check = recordCheckFor(config, maps, () => Date.now());

let seq = 0;
function batch(round: number, b: number): LogEntry[] {
  return Array.from({ length: BATCH }, (_, i) => {
    const key = `r${round}-b${b}-k${i}`;
    return packEntry({
      seq: ++seq, keyspace: 'orders', key, ...map.place(key),
      record: { vv: { west: seq }, hlc: [Date.now(), 0], origin: 'west', epoch: 0, tombstone: false, value: VALUE, contentType: 'application/octet-stream' },
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'geogate-record-check-'));
const redis = await RedisProcess.start({ dir });
const client = new Redis(redis.url);
const store = new RegionStore(client, { region: 'east', prefix: 'rc:', partitionOf: (_ks, key) => map.place(key).partition, logMaxEntries: 100_000, logMaxBytes: 64 << 20, nowMs: () => Date.now() });
const rates: Record<'checked' | 'unchecked', number[]> = { checked: [], unchecked: [] };
let checkMs = 0;
try {
  for (let r = 0; r < rounds; r++) {
    const order: ('checked' | 'unchecked')[] = r % 2 === 0 ? ['checked', 'unchecked'] : ['unchecked', 'checked'];
    for (const mode of order) {
      const batches = Array.from({ length: batchesPerRound }, (_, b) => batch(r * 2 + (mode === 'checked' ? 0 : 1), b));
      const t0 = performance.now();
      for (const entries of batches) {
        if (mode === 'checked') {
          const c0 = performance.now();
          checkBatch('west', entries, check, () => { throw new Error('bench record refused'); });
          checkMs += performance.now() - c0;
        }
        const outcomes = await store.apply('west', 'bench-inc', entries);
        if (outcomes.some((o) => o !== 'applied')) throw new Error(`unexpected outcomes ${[...new Set(outcomes)].join(',')}`);
      }
      rates[mode].push((batchesPerRound * BATCH) / ((performance.now() - t0) / 1000));
    }
  }
} finally {
  client.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const checked = median(rates.checked);
const unchecked = median(rates.unchecked);
const records = rounds * batchesPerRound * BATCH;
process.stdout.write(`record check cost (${rounds} rounds × ${batchesPerRound} batches × ${BATCH} records, alternated)\n`
  + `  applied/s checked ${checked.toFixed(0)}  unchecked ${unchecked.toFixed(0)}  ratio ${(checked / unchecked).toFixed(3)}\n`
  + `  rounds checked ${rates.checked.map((x) => x.toFixed(0)).join(" ")}\n  rounds unchecked ${rates.unchecked.map((x) => x.toFixed(0)).join(" ")}\n`
  + `  check alone: ${((checkMs * 1000) / records).toFixed(2)} µs per record\n`);
