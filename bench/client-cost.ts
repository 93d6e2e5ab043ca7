/**
 * The typed client and server-side incr, same run, same machine (issue 13): one region
 * (a gateway and its redis-server), rounds alternated between four loops of IN_FLIGHT
 * concurrent callers over keep-alive connections: raw fetch PUT, client.put, raw fetch
 * POST …/incr and client.incr (the client adds an Idempotency-Key and its session token to
 * every write). Reports writes/s per loop, incr/PUT and client/raw ratios, and the client's
 * overhead per request. Then the failover: two regions, a client preferring east writes
 * in a loop; east's gateway is stopped and the time from the stop to the next acknowledged
 * write (at west) is taken, FAILOVERS times (east started again in between).
 * Run: node --import tsx bench/client-cost.ts [rounds] [writesPerRound]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, startGateway, type RunningGateway } from '../gateway/index.js';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import { silentLogger } from '../infra/log.js';
import { GeogateClient } from '../client/index.js';

const rounds = Number(process.argv[2] ?? 4);
const writesPerRound = Number(process.argv[3] ?? 4000);
const IN_FLIGHT = 16;
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 10);
const SECRET = 'client-bench-secret-0123456789';
const KEYSPACES = [
  { name: 'carts', partitions: 8, writes: 'multi-master', onSplit: 'diverge', resolver: 'lww' },
  { name: 'counts', partitions: 8, writes: 'multi-master', onSplit: 'diverge', resolver: 'counter' },
];

function config(region: string, regions: string[], redisUrl: string, port: number, peers: { region: string; url: string }[]) {
  return parseGatewayConfig({
    region, listen: { host: '127.0.0.1', port }, publicUrl: `http://127.0.0.1:${port}`, redis: { url: redisUrl },
    cluster: { id: 'bench', secret: SECRET, regions }, peers, keyspaces: KEYSPACES,
    antiEntropy: { bootstrapWriteWaitMs: 0 },
  }, `bench ${region}`);
}

async function loop(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => { while (next < n) await op(next++); }));
  return performance.now() - t0;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function throughput(dir: string): Promise<void> {
  const redis = await RedisProcess.start({ dir: join(dir, 'solo') });
  const port = await freePort();
  const gw = await startGateway(config('solo', ['solo'], redis.url, port, []), { log: silentLogger() });
  const url = gw.config.publicUrl;
  const client = new GeogateClient({ regions: [url] });
  const value = 'v'.repeat(64);
  const loops: Record<string, (i: number) => Promise<unknown>> = {
    'fetch PUT': async (i) => { const r = await fetch(`${url}/v1/kv/carts/k${i % 1000}`, { method: 'PUT', body: value }); await r.arrayBuffer(); if (!r.ok) throw new Error(`PUT ${r.status}`); },
    'client.put': (i) => client.put('carts', `k${i % 1000}`, value),
    'fetch incr': async (i) => { const r = await fetch(`${url}/v1/kv/counts/c${i % 1000}/incr`, { method: 'POST', body: '{"by":1}', headers: { 'content-type': 'application/json' } }); await r.arrayBuffer(); if (!r.ok) throw new Error(`incr ${r.status}`); },
    'client.incr': (i) => client.incr('counts', `c${i % 1000}`, 1),
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(loops).map((k) => [k, []]));
  for (const op of Object.values(loops)) await loop(500, op); // warm-up
  for (let r = 0; r < rounds; r++) for (const [name, op] of Object.entries(loops)) ms[name]!.push(await loop(writesPerRound, op));
  const rate = (name: string) => { const s = [...ms[name]!].sort((a, b) => a - b); return writesPerRound / (s[Math.floor(s.length / 2)]! / 1000); };
  for (const name of Object.keys(loops)) console.log(`${name.padEnd(12)} ${Math.round(rate(name))} writes/s (median of ${rounds} rounds, ${IN_FLIGHT} in flight)`);
  console.log(`incr / PUT (fetch): ${(rate('fetch incr') / rate('fetch PUT')).toFixed(2)}   incr / PUT (client): ${(rate('client.incr') / rate('client.put')).toFixed(2)}`);
  console.log(`client / fetch: put ${(rate('client.put') / rate('fetch PUT')).toFixed(2)}, incr ${(rate('client.incr') / rate('fetch incr')).toFixed(2)}; client overhead per request: put ${Math.round((1e6 / rate('client.put') - 1e6 / rate('fetch PUT')) * IN_FLIGHT)} µs, incr ${Math.round((1e6 / rate('client.incr') - 1e6 / rate('fetch incr')) * IN_FLIGHT)} µs (latency at ${IN_FLIGHT} in flight)`);
  await gw.close();
  await redis.stop();
}

async function failover(dir: string): Promise<void> {
  const regions = ['east', 'west'];
  const redis = [await RedisProcess.start({ dir: join(dir, 'east') }), await RedisProcess.start({ dir: join(dir, 'west') })];
  const ports = [await freePort(), await freePort()];
  const cfg = regions.map((r, i) => config(r, regions, redis[i]!.url, ports[i]!, [{ region: regions[1 - i]!, url: `http://127.0.0.1:${ports[1 - i]}` }]));
  let east: RunningGateway = await startGateway(cfg[0]!, { log: silentLogger() });
  const west = await startGateway(cfg[1]!, { log: silentLogger() });
  const times: number[] = [];
  for (let t = 0; t < FAILOVERS; t++) {
    const client = new GeogateClient({ regions: [cfg[0]!.publicUrl, cfg[1]!.publicUrl], requestTimeoutMs: 1000, totalTimeoutMs: 10_000 });
    let stoppedAt = 0;
    let firstAfter = 0;
    let i = 0;
    const writer = (async () => {
      while (firstAfter === 0) {
        await client.put('carts', `f${t}-${i++}`, 'x');
        if (stoppedAt > 0 && firstAfter === 0) firstAfter = performance.now();
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    stoppedAt = performance.now();
    await east.close();
    await writer;
    times.push(firstAfter - stoppedAt);
    east = await startGateway(cfg[0]!, { log: silentLogger() });
    await new Promise((r) => setTimeout(r, 300));
  }
  const s = [...times].sort((a, b) => a - b);
  console.log(`client failover (east's gateway stopped -> next write acknowledged at west), ${FAILOVERS} runs: p50 ${pct(s, 0.5).toFixed(1)} ms, p99 ${pct(s, 0.99).toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms`);
  await east.close();
  await west.close();
  for (const r of redis) await r.stop();
}

const dir = mkdtempSync(join(tmpdir(), 'geogate-client-bench-'));
try {
  await throughput(dir);
  await failover(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
