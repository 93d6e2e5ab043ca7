/**
 * Scenario 2 — geogate replication (east -> west over the replication link) against Redis
 * REPLICAOF (primary -> replica), in the same run, driven the same way: a fixed write rate,
 * then the maximum rate the gateway takes (and Redis at that same rate). Lag is measured by
 * the same marker poller on the destination's Redis for both; applied/s from the
 * destination's own counters (geogate: the applied cursor of origin east at west; Redis: a
 * counter the write script bumps). Then the idle link: frame bytes/s per direction. Finally
 * a backlog catch-up: west stopped, east's log pre-filled straight through east's store
 * script (not over HTTP, which would measure the gateway's HTTP throughput instead), west
 * started again; the applied/s while west works through the backlog is the replication
 * throughput between the two regions.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess } from '../infra/local/redis-process.js';
import { freePort } from '../infra/local/ports.js';
import type { BenchOptions } from './options.js';
import { spawnServer } from './procs.js';
import { createPutter } from './http-client.js';
import { driveAtRate, driveMax, type DriveResult, type WriteFn } from './drive.js';
import { LagTracker, indexOfValue, type ReadIndexes } from './lag.js';
import { BENCH_SECRET } from './gateway-bench.js';
import { parseGatewayConfig, PartitionMap, RegionStore, StoreKeys } from '../gateway/index.js';
import { ratio, round } from './stats.js';

export const REPL_KEYSPACE = 'carts';
export const REPL_KEY_PREFIX = 'gg:';
export const LINK_UP_TIMEOUT_MS = 15_000;
export const CATCH_UP_TIMEOUT_MS = 30_000;
export const LAG_DRAIN_MS = 10_000;
export const MARKERS_PER_S = 200;
export const IDLE_MEASURE_S = 10;
export const BACKLOG_RECORDS = 100_000;
export const BACKLOG_FILL_IN_FLIGHT_MAX = 256;
export const BACKLOG_TIMEOUT_MS = 120_000;
export const BACKLOG_POLL_MS = 2;

export class ReplicationUnavailableError extends Error {
  override readonly name = 'ReplicationUnavailableError';
}

export interface ReplicationRun {
  system: 'geogate' | 'redis-replicaof';
  label: string;
  offeredPerS: number | 'max';
  writesAckedPerS: number;
  appliedPerS: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  lagSamples: number;
  lagUnseen: number;
  lagSkipped: number;
  /** From the last acknowledged write to the destination having every change (null: not within the bound). */
  catchUpMs: number | null;
  drive: DriveResult;
  /** 1-minute load average of the machine when the run ended (the machine is shared). */
  loadavg1: number;
}

export interface BacklogRun {
  /** Log entries east held for west when west came back. */
  records: number;
  /** Rate of the pre-fill (east's store script, pipelined; no replication running). */
  fillPerS: number;
  /** West process ready -> first records applied (reconnect backoff + handshake). */
  reconnectMs: number;
  /** First records applied -> every record applied (null: not within BACKLOG_TIMEOUT_MS). */
  drainMs: number | null;
  /** Records applied per second while draining the backlog. */
  appliedPerS: number;
  loadavg1: number;
}

export interface ReplicationBenchResult {
  settings: { durationS: number; ratePerS: number; maxWorkers: number; valueBytes: number; markersPerS: number; lagPollPauseMs: number };
  runs: ReplicationRun[];
  comparisons: { label: string; lagP50Ratio: number; lagP99Ratio: number; appliedRatio: number }[];
  idle?: {
    seconds: number;
    eastToWestBytesPerS: number;
    westToEastBytesPerS: number;
    eastToWestByType: Record<string, number>;
    redisReplicaBytesPerS: number | null;
  };
  backlog?: BacklogRun;
}

/** Replication is in this build when the replicator exists and the gateway composes it. */
export function assertReplicationAvailable(root = process.cwd()): void {
  // the gateway composes it, or (several instances per region) its coordinator role does
  const sources = [join(root, 'gateway', 'gateway.ts'), join(root, 'gateway', 'coordinator.ts')];
  const composed = existsSync(join(root, 'replicator', 'index.ts')) &&
    sources.some((src) => existsSync(src) && /createReplicator\(/.test(readFileSync(src, 'utf8')));
  if (!composed) throw new ReplicationUnavailableError('replication not available in this build (no replicator/index.ts, or gateway/gateway.ts does not compose a Replicator)');
}

interface System {
  name: ReplicationRun['system'];
  write: (gi: number) => Promise<void>;
  readIndexes: ReadIndexes;
  sourceCount(): Promise<number>;
  destCount(): Promise<number>;
  workers: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (gi: number) => `k${gi % 10_000}`;

function valueOf(gi: number, bytes: number): Buffer {
  const head = `${gi}:`;
  return Buffer.concat([Buffer.from(head), Buffer.alloc(Math.max(0, bytes - head.length), 'x')]);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** One measured run: a driver, the lag poller, the destination's applied counter, then catch-up. */
async function measure(sys: System, label: string, offered: number | 'max', durationMs: number, next: { gi: number }): Promise<ReplicationRun> {
  const everyN = offered === 'max' ? 10 : Math.max(1, Math.round(offered / MARKERS_PER_S));
  const offset = next.gi;
  const tracker = new LagTracker(sys.readIndexes, keyOf, everyN);
  const write: WriteFn = (i) => sys.write(offset + i);
  const onAck = (i: number, t: number) => tracker.onAck(offset + i, t);
  const destStart = await sys.destCount();
  tracker.start();
  const drive = offered === 'max'
    ? await driveMax(write, onAck, sys.workers, durationMs)
    : await driveAtRate(write, onAck, offered, durationMs);
  const destEnd = await sys.destCount();
  next.gi = offset + drive.issued;
  const source = await sys.sourceCount();
  let catchUpMs: number | null = null;
  try {
    catchUpMs = await waitFor(async () => (await sys.destCount()) >= source, CATCH_UP_TIMEOUT_MS, 'catch-up');
  } catch { /* reported as null */ }
  const lag = await tracker.stop(LAG_DRAIN_MS);
  const seconds = drive.elapsedMs / 1000;
  return {
    system: sys.name, label, offeredPerS: offered,
    writesAckedPerS: round(drive.acked / seconds, 0), appliedPerS: round((destEnd - destStart) / seconds, 0),
    lagP50Ms: round(lag.p50Ms, 2), lagP99Ms: round(lag.p99Ms, 2), lagMaxMs: round(lag.maxMs, 2),
    lagSamples: lag.samples, lagUnseen: lag.unseen, lagSkipped: lag.skipped,
    catchUpMs: catchUpMs === null ? null : round(catchUpMs, 1), drive, loadavg1: round(loadavg()[0] ?? 0, 2),
  };
}

async function scrapeBytesSent(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('geogate_replication_bytes_sent_total{')) continue;
    const type = /type="([^"]*)"/.exec(line)?.[1] ?? '?';
    out[type] = (out[type] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

async function replOutputBytes(redis: Redis): Promise<number | null> {
  const m = /total_net_repl_output_bytes:(\d+)/.exec(await redis.info('stats'));
  return m ? Number(m[1]) : null;
}

export async function runReplicationBench(opts: BenchOptions, progress: (line: string) => void): Promise<ReplicationBenchResult> {
  assertReplicationAvailable();
  const dir = mkdtempSync(join(tmpdir(), 'geogate-bench-repl-'));
  const stops: (() => Promise<void> | void)[] = [];
  try {
    const start = async (name: string) => {
      const r = await RedisProcess.start({ dir: join(dir, name), appendOnly: false });
      stops.push(() => r.stop());
      return r;
    };
    const [rEast, rWest, rPrimary, rReplica] = [await start('east'), await start('west'), await start('primary'), await start('replica')];
    const client = (url: string) => {
      const c = new Redis(url, { maxRetriesPerRequest: 1 });
      stops.push(() => c.disconnect());
      return c;
    };
    const [east, west, primary, replica] = [client(rEast.url), client(rWest.url), client(rPrimary.url), client(rReplica.url)];
    await replica.call('REPLICAOF', '127.0.0.1', String(rPrimary.port));
    await waitFor(async () => /master_link_status:up/.test(await replica.info('replication')), LINK_UP_TIMEOUT_MS, 'redis replica link up');

    const ports = { east: await freePort(), west: await freePort() };
    const gwConfig = (region: 'east' | 'west', redisUrl: string) => {
      const peer = region === 'east' ? 'west' : 'east';
      return {
        region, listen: { host: '127.0.0.1', port: ports[region] }, publicUrl: `http://127.0.0.1:${ports[region]}`,
        redis: { url: redisUrl, keyPrefix: REPL_KEY_PREFIX },
        cluster: { id: 'bench', secret: BENCH_SECRET, regions: ['east', 'west'] },
        peers: [{ region: peer, url: `http://127.0.0.1:${ports[peer]}` }],
        keyspaces: [{ name: REPL_KEYSPACE, partitions: 8, onSplit: 'diverge', writes: 'multi-master' }],
      };
    };
    const gwEast = await spawnServer({ script: 'gateway', name: 'east', env: { GEOGATE_BENCH_CONFIG: JSON.stringify(gwConfig('east', rEast.url)) } });
    stops.push(() => gwEast.stop());
    const startWest = async () => {
      const gw = await spawnServer({ script: 'gateway', name: 'west', env: { GEOGATE_BENCH_CONFIG: JSON.stringify(gwConfig('west', rWest.url)) } });
      stops.push(() => gw.stop());
      return gw;
    };
    const gwWest = await startWest();
    type Status = { peers?: { region: string; state: string }[]; bootstrap?: { writesOpen?: boolean } };
    const status = async (url: string) => (await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(2000) })).json() as Promise<Status>;
    await waitFor(async () => {
      const [s, w] = await Promise.all([status(gwEast.url), status(gwWest.url)]);
      // both stores start empty: each takes writes once it bootstrapped from the other
      return (s.peers?.some((p) => p.region === 'west' && p.state === 'up') ?? false)
        && s.bootstrap?.writesOpen !== false && w.bootstrap?.writesOpen !== false;
    }, LINK_UP_TIMEOUT_MS, 'east -> west replication link up, both regions writable').catch((err: Error) => {
      throw new ReplicationUnavailableError(`replication not available in this build: ${err.message}`);
    });
    progress(`regions up: east ${gwEast.url}, west ${gwWest.url}; redis primary ${rPrimary.port} -> replica ${rReplica.port}`);

    // Put one record through to learn east's incarnation (the applied cursor at west is per origin incarnation).
    const putter = createPutter(gwEast.url, Math.max(opts.connections, 256));
    stops.push(() => putter.close());
    await putter.put(`/v1/kv/${REPL_KEYSPACE}/warm`, Buffer.from('warm'));
    const incarnation = await east.get(`${REPL_KEY_PREFIX}incarnation`);
    if (!incarnation) throw new Error('east has no incarnation key after a write');
    const appliedField = `east|${incarnation}`;
    const westConfig = parseGatewayConfig(gwConfig('west', rWest.url), 'bench');
    const westKeys = new StoreKeys(REPL_KEY_PREFIX, (ks, key) => new PartitionMap(westConfig.keyspaces[0]!, westConfig.cluster.regions, westConfig.merkle.buckets).place(key).partition);

    const geogate: System = {
      name: 'geogate', workers: opts.connections,
      write: (gi) => putter.put(`/v1/kv/${REPL_KEYSPACE}/${keyOf(gi)}`, valueOf(gi, opts.valueBytes)),
      readIndexes: async (keys) => {
        const p = west.pipeline();
        for (const k of keys) p.hgetBuffer(westKeys.record(REPL_KEYSPACE, k), 'v');
        return ((await p.exec()) ?? []).map(([, v]) => indexOfValue(v as Buffer | null));
      },
      sourceCount: async () => Number((await east.get(`${REPL_KEY_PREFIX}seq`)) ?? 0),
      destCount: async () => Number((await west.hget(`${REPL_KEY_PREFIX}applied`, appliedField)) ?? 0),
    };
    // Redis writes go through the baseline server (hono + ioredis, one Lua SET + XADD) in front
    // of the primary: the bench process then does the same HTTP work for both systems, so its
    // own event loop (which also runs the lag poller) weighs equally on both lag measurements.
    const front = await spawnServer({ script: 'baseline', name: 'redis front', env: { BASELINE_REDIS_URL: rPrimary.url, BASELINE_PORT: '0' } });
    stops.push(() => front.stop());
    const frontPutter = createPutter(front.url, Math.max(opts.connections, 256));
    stops.push(() => frontPutter.close());
    const redisSys: System = {
      name: 'redis-replicaof', workers: opts.connections,
      write: (gi) => frontPutter.put(`/v1/kv/${REPL_KEYSPACE}/${keyOf(gi)}`, valueOf(gi, opts.valueBytes)),
      readIndexes: async (keys) => {
        const p = replica.pipeline();
        for (const k of keys) p.getBuffer(`b:r:${REPL_KEYSPACE}:${k}`);
        return ((await p.exec()) ?? []).map(([, v]) => indexOfValue(v as Buffer | null));
      },
      sourceCount: () => primary.xlen('b:log'),
      destCount: () => replica.xlen('b:log'),
    };

    const durationMs = opts.durationS * 1000;
    const next = { geogate: { gi: 0 }, redis: { gi: 0 } };
    const runs: ReplicationRun[] = [];
    const show = (r: ReplicationRun) => progress(`${r.system} @ ${r.label}: acked ${r.writesAckedPerS}/s, applied ${r.appliedPerS}/s, ` +
      `lag p50 ${r.lagP50Ms} ms p99 ${r.lagP99Ms} ms (${r.lagSamples} markers, ${r.lagUnseen} unseen), catch-up ${r.catchUpMs ?? 'n/a'} ms` +
      (r.drive.failed ? `, ${r.drive.failed} failed (${r.drive.firstError})` : '') + (r.drive.behind ? `, ${r.drive.behind} behind schedule` : '') + `, load ${r.loadavg1}`);

    const rateLabel = `${opts.replicationRatePerS}/s`;
    // Unmeasured warm-up of both systems at the fixed rate (JIT, connection pools, the first
    // anti-entropy pass after the link came up), as the gateway scenario does.
    if (opts.warmupS > 0) {
      for (const [sys, n] of [[geogate, next.geogate], [redisSys, next.redis]] as const) {
        await measure(sys, 'warm-up', opts.replicationRatePerS, opts.warmupS * 1000, n);
      }
      progress(`warm-up: ${opts.warmupS} s of writes at ${rateLabel} on each system (not measured)`);
    }
    for (const [sys, n] of [[geogate, next.geogate], [redisSys, next.redis]] as const) {
      const r = await measure(sys, rateLabel, opts.replicationRatePerS, durationMs, n);
      runs.push(r);
      show(r);
    }
    const gMax = await measure(geogate, 'max', 'max', durationMs, next.geogate);
    runs.push(gMax);
    show(gMax);
    const sameRate = Math.max(1, Math.round(gMax.writesAckedPerS));
    const rAtMax = await measure(redisSys, `geogate max (${sameRate}/s)`, sameRate, durationMs, next.redis);
    runs.push(rAtMax);
    show(rAtMax);
    gMax.label = `max (${sameRate}/s)`;

    const pair = (label: string, g: ReplicationRun, r: ReplicationRun) => ({
      label, lagP50Ratio: round(ratio(g.lagP50Ms, r.lagP50Ms), 2), lagP99Ratio: round(ratio(g.lagP99Ms, r.lagP99Ms), 2),
      appliedRatio: round(ratio(g.appliedPerS, r.appliedPerS), 3),
    });
    const comparisons = [pair(rateLabel, runs[0]!, runs[1]!), pair(`${sameRate}/s (geogate max)`, gMax, rAtMax)];

    await sleep(1000);
    const [e0, w0, p0] = [await scrapeBytesSent(gwEast.url), await scrapeBytesSent(gwWest.url), await replOutputBytes(primary)];
    await sleep(IDLE_MEASURE_S * 1000);
    const [e1, w1, p1] = [await scrapeBytesSent(gwEast.url), await scrapeBytesSent(gwWest.url), await replOutputBytes(primary)];
    const perS = (a: Record<string, number>, b: Record<string, number>) => {
      const byType: Record<string, number> = {};
      for (const t of Object.keys(b)) {
        const d = (b[t] ?? 0) - (a[t] ?? 0);
        if (d > 0) byType[t] = round(d / IDLE_MEASURE_S, 1);
      }
      return { total: Object.values(byType).reduce((s, v) => s + v, 0), byType };
    };
    const ew = perS(e0, e1);
    const we = perS(w0, w1);
    const idle = {
      seconds: IDLE_MEASURE_S, eastToWestBytesPerS: round(ew.total, 1), westToEastBytesPerS: round(we.total, 1), eastToWestByType: ew.byType,
      redisReplicaBytesPerS: p0 === null || p1 === null ? null : round((p1 - p0) / IDLE_MEASURE_S, 1),
    };

    const eastConfig = parseGatewayConfig(gwConfig('east', rEast.url), 'bench east');
    const backlog = await measureBacklog({
      stopWest: () => gwWest.stop(), startWest, appliedCount: geogate.destCount, sourceCount: geogate.sourceCount,
      fill: backlogFiller(east, eastConfig, opts.valueBytes),
    });
    progress(`geogate backlog catch-up: ${backlog.records} records (filled at ${backlog.fillPerS}/s), reconnect ${backlog.reconnectMs} ms, ` +
      `drained in ${backlog.drainMs ?? 'n/a'} ms = ${backlog.appliedPerS} applied/s, load ${backlog.loadavg1}`);
    return {
      settings: {
        durationS: opts.durationS, ratePerS: opts.replicationRatePerS, maxWorkers: opts.connections, valueBytes: opts.valueBytes,
        markersPerS: MARKERS_PER_S, lagPollPauseMs: 1,
      },
      runs, comparisons, idle, backlog,
    };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `count` records into east's log through east's own store script (keys `bl<i>`), pipelined. */
function backlogFiller(redis: Redis, config: ReturnType<typeof parseGatewayConfig>, valueBytes: number) {
  const ks = config.keyspaces.find((k) => k.name === REPL_KEYSPACE)!;
  const map = new PartitionMap(ks, config.cluster.regions, config.merkle.buckets);
  const store = new RegionStore(redis, {
    region: config.region, prefix: config.redis.keyPrefix, partitionOf: (_ks, key) => map.place(key).partition, logMaxEntries: config.log.maxEntries,
    logMaxBytes: config.log.maxBytes, nowMs: () => Date.now(),
  });
  return async (count: number): Promise<void> => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const key = `bl${i}`;
        const place = map.place(key);
        await store.write({
          keyspace: ks.name, key, partition: place.partition, bucket: place.bucket, value: valueOf(i, valueBytes),
          contentType: 'application/octet-stream', tombstone: false, epoch: 0, fenced: false,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(BACKLOG_FILL_IN_FLIGHT_MAX, count) }, worker));
  };
}

/**
 * West down, BACKLOG_RECORDS written at east, west up again: how fast west applies what it
 * missed. The rate is taken from the first applied record (east's dialer may sit in its
 * reconnect backoff for a while) to the last.
 */
async function measureBacklog(deps: {
  stopWest: () => Promise<void>; startWest: () => Promise<unknown>;
  appliedCount: () => Promise<number>; sourceCount: () => Promise<number>; fill: (count: number) => Promise<void>;
}): Promise<BacklogRun> {
  await deps.stopWest();
  const applied0 = await deps.appliedCount();
  const f0 = performance.now();
  await deps.fill(BACKLOG_RECORDS);
  const fillMs = performance.now() - f0;
  const target = await deps.sourceCount();
  await deps.startWest();
  const ready = performance.now();
  let first: { at: number; applied: number } | null = null;
  let drainMs: number | null = null;
  while (performance.now() - ready < BACKLOG_TIMEOUT_MS) {
    const applied = await deps.appliedCount();
    const now = performance.now();
    if (first === null && applied > applied0) first = { at: now, applied };
    if (first !== null && applied >= target) {
      drainMs = now - first.at;
      break;
    }
    await sleep(BACKLOG_POLL_MS);
  }
  const drained = first === null ? 0 : (drainMs === null ? await deps.appliedCount() : target) - first.applied;
  const drainS = ((drainMs ?? (performance.now() - (first?.at ?? ready)))) / 1000;
  return {
    records: target - applied0, fillPerS: round(BACKLOG_RECORDS / (fillMs / 1000), 0),
    reconnectMs: first === null ? -1 : round(first.at - ready, 1), drainMs: drainMs === null ? null : round(drainMs, 1),
    appliedPerS: drainS > 0 ? round(drained / drainS, 0) : 0, loadavg1: round(loadavg()[0] ?? 0, 2),
  };
}
