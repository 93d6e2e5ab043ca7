/**
 * What the store's fence costs a write, same run, same machine: one redis-server per mode
 * (fenced: the write carries its epoch and lease end, the script reads the fence key and
 * TIME; unfenced: neither), the same RegionStore write path, rounds alternated. Reports
 * writes/s through the store (32 writes in flight) and Redis's EVALSHA µs per call from
 * INFO commandstats. Run: node --import tsx bench/fence-cost.ts [rounds] [writesPerRound]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RegionStore } from '../gateway/index.js';
import { RedisProcess } from '../infra/local/redis-process.js';

const rounds = Number(process.argv[2] ?? 6);
const writesPerRound = Number(process.argv[3] ?? 20_000);
const IN_FLIGHT = 32;
const VALUE = Buffer.alloc(100, 0x61);

interface Mode { name: 'fenced' | 'unfenced'; redis: RedisProcess; client: Redis; store: RegionStore; dir: string }

async function mode(name: Mode['name']): Promise<Mode> {
  const dir = mkdtempSync(join(tmpdir(), `geogate-fence-${name}-`));
  const redis = await RedisProcess.start({ dir });
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  const store = new RegionStore(client, { region: 'east', prefix: 'fb:', partitionOf: (_ks, key) => Number(key.slice(1)) % 16, logMaxEntries: 100_000, logMaxBytes: 64 << 20, nowMs: () => Date.now() });
  return { name, redis, client, store, dir };
}

async function round(m: Mode, n: number, offset: number): Promise<number> {
  const fenced = m.name === 'fenced';
  if (fenced) for (let p = 0; p < 16; p++) await m.store.setFence('orders', p, 1, performance.now() + 60_000);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const p = ((offset + i) % 50_000) % 16;
      await m.store.write({
        keyspace: 'orders', key: `k${(offset + i) % 50_000}`, partition: p, bucket: i % 1024, value: VALUE, contentType: 'application/octet-stream',
        tombstone: false, epoch: fenced ? 1 : 0, fenced, ...(fenced ? { leaseEndMonoMs: performance.now() + 60_000 } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function evalshaUsec(m: Mode): Promise<number> {
  const info = await m.client.info('commandstats');
  const hit = /^cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/m.exec(info);
  return hit ? Number(hit[3]) : Number.NaN;
}

const modes = [await mode('unfenced'), await mode('fenced')];
const rates: Record<string, number[]> = { unfenced: [], fenced: [] };
try {
  for (const m of modes) await round(m, 2000, 0); // warm-up: scripts loaded, JIT warm
  for (const m of modes) await m.client.config('RESETSTAT');
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) rates[m.name]!.push(await round(m, writesPerRound, r * writesPerRound));
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const result = {
    rounds, writesPerRound, inFlight: IN_FLIGHT,
    writesPerS: { unfenced: Math.round(median(rates.unfenced!)), fenced: Math.round(median(rates.fenced!)) },
    throughputRatio: Number((median(rates.fenced!) / median(rates.unfenced!)).toFixed(3)),
    evalshaUsecPerCall: { unfenced: await evalshaUsec(modes[0]!), fenced: await evalshaUsec(modes[1]!) },
  };
  console.log(JSON.stringify(result));
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/fence-cost.json', import.meta.url), JSON.stringify(result, null, 2));
} finally {
  for (const m of modes) {
    m.client.disconnect();
    await m.redis.stop();
    rmSync(m.dir, { recursive: true, force: true });
  }
}
