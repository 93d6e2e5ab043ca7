/**
 * What expiry costs a write, same run, same machine (issue 13 item 4): one region (a gateway
 * and its redis-server), rounds alternated between three loops of IN_FLIGHT concurrent raw
 * fetch callers over keep-alive connections: PUT, PUT ?ttl=3600 (the record's expiry and the
 * partition's expiry index, ZADD, in the same script) and POST …/expire. Reports writes/s per
 * loop (median of the rounds) and the ratios against PUT. Then the sweep: SWEEP_KEYS keys
 * written with ttl=1, and after their expiry the time `sweepOnce` takes per round of
 * expiry.sweepRecordsMax (default 256) tombstones.
 * Run: node --import tsx bench/expiry-cost.ts [rounds] [writesPerRound]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, startGateway } from '../gateway/index.js';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import { silentLogger } from '../infra/log.js';

const rounds = Number(process.argv[2] ?? 4);
const writesPerRound = Number(process.argv[3] ?? 4000);
const IN_FLIGHT = 16;
const SWEEP_KEYS = 4096;

async function loop(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => { while (next < n) await op(next++); }));
  return performance.now() - t0;
}

async function ok(r: Response, what: string): Promise<void> {
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`${what} ${r.status}`);
}

const dir = mkdtempSync(join(tmpdir(), 'geogate-expiry-bench-'));
const redis = await RedisProcess.start({ dir });
try {
  const port = await freePort();
  const gw = await startGateway(parseGatewayConfig({
    region: 'solo', listen: { host: '127.0.0.1', port }, publicUrl: `http://127.0.0.1:${port}`, redis: { url: redis.url },
    cluster: { id: 'bench', secret: 'expiry-bench-secret-0123456789', regions: ['solo'] },
    keyspaces: [{ name: 'carts', partitions: 8, writes: 'multi-master', onSplit: 'diverge' }],
    antiEntropy: { bootstrapWriteWaitMs: 0 }, expiry: { sweepIntervalMs: 3_600_000 },
  }, 'bench solo'), { log: silentLogger() });
  const kv = `${gw.config.publicUrl}/v1/kv/carts`;
  const value = 'v'.repeat(64);
  const json = { 'content-type': 'application/json' };
  const loops: Record<string, (i: number) => Promise<unknown>> = {
    'PUT': async (i) => ok(await fetch(`${kv}/p${i % 1000}`, { method: 'PUT', body: value }), 'PUT'),
    'PUT ?ttl': async (i) => ok(await fetch(`${kv}/t${i % 1000}?ttl=3600`, { method: 'PUT', body: value }), 'PUT ttl'),
    'expire': async (i) => ok(await fetch(`${kv}/t${i % 1000}/expire`, { method: 'POST', body: '{"ttlSeconds":3600}', headers: json }), 'expire'),
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(loops).map((k) => [k, []]));
  for (const op of Object.values(loops)) await loop(1000, op); // warm-up (and every t key exists for expire)
  for (let r = 0; r < rounds; r++) for (const [name, op] of Object.entries(loops)) ms[name]!.push(await loop(writesPerRound, op));
  const rate = (name: string) => { const s = [...ms[name]!].sort((a, b) => a - b); return writesPerRound / (s[Math.floor(s.length / 2)]! / 1000); };
  for (const name of Object.keys(loops)) console.log(`${name.padEnd(9)} ${Math.round(rate(name))} writes/s (median of ${rounds} rounds, ${IN_FLIGHT} in flight)`);
  console.log(`PUT ?ttl / PUT: ${(rate('PUT ?ttl') / rate('PUT')).toFixed(2)}   expire / PUT: ${(rate('expire') / rate('PUT')).toFixed(2)}`);

  let expiresAt = 0;
  await loop(SWEEP_KEYS, async (i) => {
    const r = await fetch(`${kv}/s${i}?ttl=1`, { method: 'PUT', body: value });
    expiresAt = Math.max(expiresAt, Number(r.headers.get('x-geogate-expires-at')));
    await ok(r, 'PUT s');
  });
  while (Date.now() < expiresAt) await new Promise((r) => setTimeout(r, 20));
  const perRound: number[] = [];
  let swept = 0;
  for (;;) {
    const t0 = performance.now();
    const { tombstoned } = await gw.expirySweeper.sweepOnce();
    if (tombstoned === 0) break;
    perRound.push(performance.now() - t0);
    swept += tombstoned;
  }
  const s = [...perRound].sort((a, b) => a - b);
  console.log(`sweep: ${swept} tombstones in ${perRound.length} rounds of at most ${gw.config.expiry.sweepRecordsMax}; per round p50 ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms`);
  await gw.close();
} finally {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
