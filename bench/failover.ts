/**
 * Failover time: a region crashes (its links go silent and its gateway stops) → how long until
 * the survivor accepts the first write for a partition the dead region owned. Default
 * settings (heartbeat 100 ms × 5, lease 1500 ms, drift margin 150 ms). Real processes on
 * loopback: redis-server per region, witness, WAN relays. Run:
 *   node --import tsx bench/failover.ts [runs] [partitions]
 * With `partitions` (one fence keyspace of that many partitions, half homed at each region)
 * it also reports when the survivor held a lease for every partition ("all").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { PartitionMap } from '../gateway/index.js';
import { startCluster, eventually } from '../test/helpers/cluster.js';

const runs = Number(process.argv[2] ?? 20);
const partitions = process.argv[3] === undefined ? null : Number(process.argv[3]);
const times: number[] = [];
const allTimes: number[] = [];
const extra = partitions === null ? {} : { keyspaces: [{ name: 'orders', partitions, onSplit: 'fence' }] };
const leasedEach = partitions === null ? 8 : Math.floor(partitions / 2);

for (let i = 0; i < runs; i++) {
  const c = await startCluster(['east', 'west'], { witness: true, wan: true, extra });
  try {
    const leased = await eventually(async () => {
      for (const r of c.regions) {
        const s = await (await fetch(`${r.gateway.url}/v1/status`)).json();
        if (s.ownership.leased !== leasedEach) return false;
      }
      return true;
    }, 20_000);
    if (!leased) throw new Error('cluster never leased every partition');
    const cfg = c.regions[0]!.config;
    const map = new PartitionMap(cfg.keyspaces.find((k) => k.name === 'orders')!, cfg.cluster.regions, cfg.merkle.buckets);
    let key = '';
    for (let k = 0; !key; k++) if (map.nodeList(map.place(`k${k}`).partition)[0]!.region === 'east') key = `k${k}`;
    const west = c.byName('west').gateway.url;
    const t0 = performance.now();
    c.isolate('east'); // silence, as a crash looks from outside
    await c.stopGateway('east');
    let ms = -1;
    while (performance.now() - t0 < 15_000) {
      const res = await fetch(`${west}/v1/kv/orders/${key}`, { method: 'PUT', body: Buffer.from('x'), redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status < 300) { ms = performance.now() - t0; break; }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (ms < 0) throw new Error('no failover within 15 s');
    times.push(ms);
    let all = -1;
    if (partitions !== null) {
      while (performance.now() - t0 < 30_000) {
        const s = await (await fetch(`${west}/v1/status`)).json();
        if (s.ownership.leased === partitions) { all = performance.now() - t0; break; }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (all < 0) throw new Error('survivor did not lease every partition within 30 s');
      allTimes.push(all);
    }
    process.stdout.write(`run ${i + 1}/${runs}: ${ms.toFixed(0)} ms${all >= 0 ? `, all ${all.toFixed(0)} ms` : ''}\n`);
  } finally {
    await c.stop();
  }
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50Ms: Math.round(pct(50)), p99Ms: Math.round(pct(99)), minMs: Math.round(sorted[0]!), maxMs: Math.round(sorted.at(-1)!) };
}
const result = {
  runs, partitions: partitions ?? 16, firstWrite: summary(times), ...(allTimes.length > 0 ? { allLeased: summary(allTimes) } : {}), targetP99Ms: 2000,
};
console.log(JSON.stringify(result));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL(`./results/failover${partitions === null ? '' : `-${partitions}`}.json`, import.meta.url), JSON.stringify(result, null, 2));
