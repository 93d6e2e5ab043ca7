/**
 * What `durability: replica` costs a PUT, same run, same machine: one redis-server master
 * with one `replicaof` replica (no persistence), one gateway process with two keyspaces on it
 * that differ only in durability (`local`: the master ran the write; `replica`: WAIT 1 after
 * it, on the replica-wait connections), autocannon PUT load alternated between them. Reports
 * req/s and p50/p99 per keyspace (medians over the rounds) and their ratios, and Redis's WAIT
 * calls and µs per call from INFO commandstats.
 * Run: node --import tsx bench/durability.ts [rounds] [durationS] [connections]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import { gatewayBenchConfig } from './gateway-bench.js';
import { spawnServer } from './procs.js';
import { preload, runLoad, type LoadResult } from './load.js';
import { median, ratio, round } from './stats.js';

const rounds = Number(process.argv[2] ?? 3);
const durationS = Number(process.argv[3] ?? 5);
const connections = Number(process.argv[4] ?? 64);
const KEYS_MAX = 10_000;
const VALUE_BYTES = 64;
const MODES = ['local', 'replica'] as const;

const dir = mkdtempSync(join(tmpdir(), 'geogate-durability-'));
const stops: (() => Promise<void>)[] = [];
try {
  const master = await RedisProcess.start({ dir: join(dir, 'master'), appendOnly: false });
  stops.push(() => master.stop());
  const replica = await RedisProcess.start({ dir: join(dir, 'replica'), appendOnly: false, replicaOfPort: master.port });
  stops.push(() => replica.stop());
  const admin = new Redis(master.url);
  stops.push(async () => { admin.disconnect(); });
  for (let i = 0; i < 100 && !/slave0:.*state=online/.test(await admin.info('replication')); i++) await new Promise((r) => setTimeout(r, 50));
  const port = await freePort();
  const gateway = await spawnServer({
    script: 'gateway', name: 'gateway',
    env: { GEOGATE_BENCH_CONFIG: JSON.stringify(gatewayBenchConfig('bench', port, master.url, {
      keyspaces: [
        { name: 'local', partitions: 8, onSplit: 'diverge', writes: 'multi-master', durability: 'local' },
        { name: 'replica', partitions: 8, onSplit: 'diverge', writes: 'multi-master', durability: 'replica' },
      ],
    })) },
  });
  stops.push(() => gateway.stop());
  const load = (keyspace: string) => ({ baseUrl: gateway.url, keyspace, keysMax: KEYS_MAX, valueBytes: VALUE_BYTES, connections });
  for (const m of MODES) await preload(load(m));
  for (const m of MODES) await runLoad('PUT', { ...load(m), durationS: 1 }); // warm-up
  await admin.config('RESETSTAT');
  const runs: Record<string, LoadResult[]> = { local: [], replica: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const m of MODES) {
      const res = await runLoad('PUT', { ...load(m), durationS });
      runs[m]!.push(res);
      console.log(`round ${r} ${m.padEnd(7)}: ${Math.round(res.reqPerS)} req/s, p50 ${res.latencyP50Ms} ms, p99 ${res.latencyP99Ms} ms` + (res.non2xx + res.errors > 0 ? `, non2xx ${res.non2xx}, errors ${res.errors}` : ''));
    }
  }
  const agg = (m: string) => ({
    reqPerS: round(median(runs[m]!.map((x) => x.reqPerS)), 0),
    p50: median(runs[m]!.map((x) => x.latencyP50Ms)),
    p99: median(runs[m]!.map((x) => x.latencyP99Ms)),
  });
  const [l, rep] = [agg('local'), agg('replica')];
  const wait = /cmdstat_wait:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(await admin.info('commandstats'));
  console.log(JSON.stringify({
    settings: { rounds, durationS, connections, keysMax: KEYS_MAX, valueBytes: VALUE_BYTES },
    local: l, replica: rep,
    ratios: { throughput: round(ratio(rep.reqPerS, l.reqPerS), 3), p50: round(ratio(rep.p50, l.p50), 3), p99: round(ratio(rep.p99, l.p99), 3) },
    redisWait: wait ? { calls: Number(wait[1]), usecPerCall: Number(wait[3]) } : null,
  }, null, 2));
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
