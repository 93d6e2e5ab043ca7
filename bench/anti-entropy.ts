/**
 * Anti-entropy benchmark: two regions, each a real redis-server, with N keys loaded
 * straight into the store layout (records, bucket members, bucket digests computed exactly
 * as the Lua does), then 0.1 % / 1 % / 10 % of the keys diverged outside any log (half
 * newer in each region, through the store's apply path) and one `repairAll` run. Reports
 * time to converge, anti-entropy bytes on the wire (both directions, msgpack control
 * frames through the replicator codec) against the bytes of the diverged records.
 *
 *   node --import tsx bench/anti-entropy.ts
 *   BENCH_KEYS=1000000 BENCH_BUCKETS=65536 BENCH_PARTITIONS=16 BENCH_VALUE_BYTES=100 BENCH_RTT_MS=0
 *   BENCH_CPU_PROFILE=<dir>: a V8 CPU profile of each repairAll (only the repair, not the load)
 *   BENCH_WRITES_PER_KEY=10: every diverged key written that many times at west only (one
 *   side of a split taking repeated writes); the repair must carry only the last version
 *
 * Each row is followed by the Redis commands that took the most server time during the
 * repair, both regions summed (INFO commandstats, reset before each repair).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import { realClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { PartitionMap, RegionStore, StoreKeys, parseGatewayConfig } from '../gateway/index.js';
import { MerkleStore } from '../gateway/store/merkle-store.js';
import { AntiEntropy, type AeLinks } from '../replicator/anti-entropy/index.js';
import { decodeFrame, encodeFrame, PROTOCOL_VERSION } from '../replicator/index.js';
import type { ControlHandler } from '../replicator/index.js';
import type { PeerStatus, ChangeRecord } from '../replicator/types.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const BUCKETS = Number(process.env.BENCH_BUCKETS ?? 65_536);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 16);
const VALUE_BYTES = Number(process.env.BENCH_VALUE_BYTES ?? 100);
const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 0);
const FRACTIONS = (process.env.BENCH_FRACTIONS ?? '0.001,0.01,0.1').split(',').map(Number);
const WRITES_PER_KEY = Number(process.env.BENCH_WRITES_PER_KEY ?? 1);
const KS = 'bench';
const PREFIX = 'ae:';
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE ?? '';
const LOAD_CHUNK = 5_000;
const TOP_COMMANDS = 5;

const config = parseGatewayConfig({
  region: 'east', listen: { port: 0 }, publicUrl: 'http://127.0.0.1:1', redis: { url: 'redis://127.0.0.1:1', keyPrefix: PREFIX },
  cluster: { id: 'bench', secret: 'bench-secret-0123456789', regions: ['east', 'west'] },
  keyspaces: [{ name: KS, partitions: PARTITIONS, ringSlots: 65_536, writes: 'multi-master', onSplit: 'diverge' }],
  merkle: { buckets: BUCKETS },
}, 'bench');
const map = new PartitionMap(config.keyspaces[0]!, ['east', 'west'], BUCKETS);

/** A pair of loopback links through the replicator codec, counting frame bytes. */
class Loopback {
  bytes = 0;
  frames = 0;
  private readonly handlers = new Map<string, ControlHandler>();
  links(self: string, peer: string): AeLinks {
    const status = (): PeerStatus[] => [{
      region: peer, state: 'up', linkState: 'established', dialer: self < peer, lagMs: 0, lagEntries: 0, ackedSeq: 0, inflightBatches: 0,
      heartbeatAgeMs: 0, needsRepair: false, remote: { lagMs: 0, lagEntries: 0, queue: 0, loadPermille: 0, fenced: [] }, lastCloseReason: null,
    }];
    return {
      registerTopic: (_topic, handler) => { this.handlers.set(self, handler); return () => this.handlers.delete(self); },
      sendControl: (to, topic, body) => {
        const frame = encodeFrame({ t: 'ctl', v: PROTOCOL_VERSION, topic, body });
        this.bytes += frame.byteLength;
        this.frames++;
        const deliver = () => {
          const decoded = decodeFrame(frame);
          if (decoded.ok && decoded.frame.t === 'ctl') void this.handlers.get(to)?.(self, decoded.frame.body);
        };
        if (RTT_MS > 0) setTimeout(deliver, RTT_MS / 2); else setImmediate(deliver);
        return true;
      },
      status,
      onNeedsRepair: () => () => {},
      onPeerState: () => () => {},
      clearNeedsRepair: () => {},
    };
  }
}

function leaf(key: string, vv: string): [number, number] {
  const h = createHash('sha1').update(`${key}\0${vv}`).digest();
  return [h.readUInt32BE(0), h.readUInt32BE(4)];
}

const keyName = (i: number) => `key:${i.toString(36).padStart(5, '0')}`;

/** Bulk loader: one EVAL per chunk writes records and bucket members (client-side per-command cost is the bottleneck otherwise). */
const LOAD_LUA = `
local prefix, ks, value = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV, 3 do
  local key, p, b = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local tag = prefix .. "{" .. ks .. "." .. p .. "}"
  redis.call("HSET", tag .. "r:" .. key, "v", value, "ct", "application/octet-stream", "vv", "east:1",
    "h", "1700000000000.0", "o", "east", "e", "0", "t", "0", "p", p, "b", b)
  redis.call("HSET", tag .. "mb:" .. b, key, "east:1")
end
return 0`;

async function load(clients: Redis[]): Promise<void> {
  const digests = new Map<string, [number, number]>();
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  for (const c of clients) c.defineCommand('benchLoad', { numberOfKeys: 0, lua: LOAD_LUA });
  for (let at = 0; at < KEYS; at += LOAD_CHUNK) {
    const args: (string | Buffer)[] = [PREFIX, KS, value];
    for (let i = at; i < Math.min(KEYS, at + LOAD_CHUNK); i++) {
      const key = keyName(i);
      const { partition: p, bucket: b } = map.place(key);
      args.push(key, String(p), String(b));
      const [hi, lo] = leaf(key, 'east:1');
      const d = digests.get(`${p}:${b}`) ?? [0, 0];
      digests.set(`${p}:${b}`, [(d[0] ^ hi) >>> 0, (d[1] ^ lo) >>> 0]);
    }
    await Promise.all(clients.map((c) => (c as unknown as { benchLoad: (...a: (string | Buffer)[]) => Promise<unknown> }).benchLoad(...args)));
  }
  for (let p = 0; p < PARTITIONS; p++) {
    const fields: string[] = [];
    for (let b = 0; b < BUCKETS; b++) {
      const d = digests.get(`${p}:${b}`);
      if (d) fields.push(String(b), d[0].toString(16).padStart(8, '0') + d[1].toString(16).padStart(8, '0'));
    }
    if (fields.length > 0) await Promise.all(clients.map((c) => c.hset(new StoreKeys(PREFIX, () => p).digest(KS, p), ...fields)));
  }
}

function diverged(i: number, region: 'east' | 'west', write = 1): ChangeRecord {
  const key = keyName(i);
  const { partition, bucket } = map.place(key);
  const vv: Record<string, number> = region === "east" ? { east: 2 } : { east: 1, west: write };
  return { seq: 0, keyspace: KS, key, partition, bucket, record: { value: Buffer.alloc(VALUE_BYTES, region === 'east' ? 0x62 : 0x63), contentType: 'application/octet-stream', vv, hlc: [1700000001000, 0], origin: region, epoch: 0, tombstone: false } };
}

function recordBytes(r: ChangeRecord): number {
  return r.key.length + r.record.value.byteLength + r.record.contentType.length + JSON.stringify(r.record.vv).length + 16 + r.record.origin.length;
}

async function digestsEqual(a: RegionStore, b: RegionStore): Promise<boolean> {
  for (let p = 0; p < PARTITIONS; p++) {
    const [x, y] = await Promise.all([a.digests(KS, p), b.digests(KS, p)]);
    if (JSON.stringify(Object.entries(x).sort()) !== JSON.stringify(Object.entries(y).sort())) return false;
  }
  return true;
}

/** Server time per command (µs) and calls, both regions summed, since the last reset. */
async function commandStats(clients: Redis[]): Promise<string> {
  const total = new Map<string, [number, number]>();
  for (const c of clients) {
    for (const m of (await c.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      const t = total.get(m[1]!) ?? [0, 0];
      total.set(m[1]!, [t[0] + Number(m[2]), t[1] + Number(m[3])]);
    }
  }
  return [...total].sort((a, b) => b[1][1] - a[1][1]).slice(0, TOP_COMMANDS)
    .map(([name, [calls, usec]]) => `${name} ${calls} calls ${(usec / 1000).toFixed(0)} ms`).join(', ');
}

async function profiled<T>(name: string, run: () => Promise<T>): Promise<T> {
  if (!CPU_PROFILE_DIR) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(CPU_PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

async function main(): Promise<void> {
  const dirs = [mkdtempSync(join(tmpdir(), 'ae-bench-')), mkdtempSync(join(tmpdir(), 'ae-bench-'))];
  const servers = await Promise.all(dirs.map(async (dir) => RedisProcess.start({ dir, port: await freePort(), appendOnly: false })));
  const clients = servers.map((s) => new Redis(s.url, { maxRetriesPerRequest: null }));
  try {
    const t0 = performance.now();
    await load(clients);
    const loadS = (performance.now() - t0) / 1000;
    const mem = (await clients[0]!.info('memory')).match(/used_memory_human:(\S+)/)?.[1];
    console.log(`loaded ${KEYS} keys x 2 regions (${PARTITIONS} partitions x ${BUCKETS} buckets, ${VALUE_BYTES} B values) in ${loadS.toFixed(1)} s; redis used_memory ${mem} each`);
    const stores = clients.map((c, i) => new RegionStore(c, { region: i === 0 ? 'east' : 'west', prefix: PREFIX, partitionOf: (_ks, key) => map.place(key).partition, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() }));
    const loop = new Loopback();
    const maps = new Map([[KS, map]]);
    const engines = (['east', 'west'] as const).map((region, i) => new AntiEntropy({
      region, store: new MerkleStore(stores[i]!), links: loop.links(region, region === 'east' ? 'west' : 'east'), maps, clock: realClock, log: silentLogger(),
      options: { repairOnHeal: false, requestTimeoutMs: 60_000, sessionsPerPeerMax: 4 },
    }));
    for (const e of engines) e.start();
    console.log(`equal data sets: ${await digestsEqual(stores[0]!, stores[1]!)}`);

    let next = 0;
    const rows: string[] = [];
    for (const fraction of FRACTIONS) {
      const n = Math.max(2, Math.round(KEYS * fraction));
      const east: ChangeRecord[] = [];
      const west: ChangeRecord[] = [];
      if (WRITES_PER_KEY > 1) {
        // west only, each key written WRITES_PER_KEY times in order; only the last one counts
        for (let w = 1; w <= WRITES_PER_KEY; w++) {
          const batch: ChangeRecord[] = [];
          for (let i = next; i < next + n; i++) batch.push(diverged(i, 'west', w));
          for (let i = 0; i < batch.length; i += 2048) await stores[1]!.applyVersions(batch.slice(i, i + 2048));
          if (w === WRITES_PER_KEY) west.push(...batch);
        }
      } else {
        for (let i = next; i < next + n; i++) (i % 2 === 0 ? west : east).push(diverged(i, i % 2 === 0 ? 'west' : 'east'));
      }
      next += n;
      for (let i = 0; i < east.length; i += 2048) await stores[0]!.applyVersions(east.slice(i, i + 2048));
      if (WRITES_PER_KEY <= 1) for (let i = 0; i < west.length; i += 2048) await stores[1]!.applyVersions(west.slice(i, i + 2048));
      const divergedBytes = [...east, ...west].reduce((s, r) => s + recordBytes(r), 0);
      const bytes0 = loop.bytes;
      const frames0 = loop.frames;
      await Promise.all(clients.map((c) => c.config('RESETSTAT')));
      const t1 = performance.now();
      const stats = await profiled(`repair-${fraction}`, () => engines[0]!.repairAll('west'));
      const seconds = (performance.now() - t1) / 1000;
      const wire = loop.bytes - bytes0;
      const redisTop = await commandStats(clients);
      const ok = await digestsEqual(stores[0]!, stores[1]!);
      const row = `${(fraction * 100).toString().padStart(5)} % | ${String(n).padStart(7)} keys | ${seconds.toFixed(2).padStart(6)} s | ${(wire / 1024).toFixed(0).padStart(7)} KiB wire | ${(divergedBytes / 1024).toFixed(0).padStart(6)} KiB diverged | ratio ${(wire / divergedBytes).toFixed(2)} | frames ${loop.frames - frames0} | pulled ${stats.pulled.applied} pushed ${stats.pushed.applied} | converged ${ok} (${stats.converged}/${stats.partitions} partitions, failed ${stats.failed})`;
      rows.push(row);
      console.log(row);
      console.log(`        redis: ${redisTop}`);
    }
    for (const e of engines) e.stop();
  } finally {
    for (const c of clients) c.disconnect();
    for (const s of servers) await s.stop().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
