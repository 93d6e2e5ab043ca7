/**
 * A region's store on Redis Sentinel (a master, a replica, 3 sentinels on loopback): the
 * gateway reaches the master through the sentinels, keeps serving across a forced failover
 * (`SENTINEL FAILOVER`), and with `durability: replica` no acknowledged write is lost by it;
 * with `local` the losses are counted and the failover to a store that missed writes is
 * noticed as a rollback without a gateway restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freePort } from '../../infra/local/ports.js';
import { startGateway, type RunningGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { baseConfig, eventually, startRedis } from '../helpers/cluster.js';
import { createStoreConnection } from '../../gateway/store/connection.js';
import { RegionStore } from '../../gateway/store/index.js';
import { startSentinelGroup, type SentinelFixture } from '../helpers/sentinel.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const WRITERS = 8;
const ACKS_BEFORE = 150;
const ACKS_AFTER = 30;

async function sentinelRegion(durability: 'local' | 'replica'): Promise<{ s: SentinelFixture; gw: RunningGateway }> {
  const s = await startSentinelGroup();
  cleanups.push(() => s.stop());
  const port = await freePort();
  const config = baseConfig('east', ['east'], 'redis://unused', port, {
    redis: s.redisConfig(),
    keyspaces: [{ name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master', durability, replicaWaitMs: 500 }],
  });
  const gw = await startGateway(config, { log: silentLogger() });
  cleanups.push(() => gw.close());
  expect(await eventually(() => gw.writesOpen(), 10_000)).toBe(true);
  return { s, gw };
}

interface LoadResult {
  acked: Map<string, string>;
  statuses: Map<string, number>;
  /** Wall ms of every acknowledgement. */
  ackedAtMs: number[];
}

/** WRITERS loops of PUTs of fresh keys until `stop` resolves; every acknowledged key and value. */
async function writeUnderLoad(gw: RunningGateway, stop: Promise<unknown>, ackedAtMs: number[] = []): Promise<LoadResult> {
  const acked = new Map<string, string>();
  const statuses = new Map<string, number>();
  let done = false;
  void stop.finally(() => { done = true; });
  const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let i = 0; !done; i++) {
      const key = `w${w}-${i}`;
      const value = `v-${w}-${i}-${Math.random().toString(36).slice(2, 8)}`;
      try {
        const res = await fetch(`${gw.url}/v1/kv/carts/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(5000) });
        const body = await res.text();
        if (res.status === 200 || res.status === 201) { acked.set(key, value); ackedAtMs.push(Date.now()); count(String(res.status)); }
        else { count(`${res.status} ${(JSON.parse(body) as { error?: { code?: string } }).error?.code ?? ''}`); await new Promise((r) => setTimeout(r, 20)); }
      } catch (err) {
        count(`fetch ${(err as Error).name}`);
      }
    }
  }));
  return { acked, statuses, ackedAtMs };
}

/**
 * Every acknowledged key read straight from the server the sentinels name as master now: the
 * ones missing or different. (Read through the gateway instead, a gateway still connected to
 * the old master — which keeps answering as one until the sentinels reconfigure it, seconds
 * later — would show writes that are about to be lost.)
 */
async function lostOnMaster(s: SentinelFixture, gw: RunningGateway, acked: Map<string, string>): Promise<string[]> {
  const c = new Redis({ host: '127.0.0.1', port: await s.group.masterPort(), lazyConnect: true });
  await c.connect();
  try {
    const lost: string[] = [];
    for (const [key, value] of acked) {
      if ((await c.hget(gw.store.keys.record('carts', key), 'v')) !== value) lost.push(key);
    }
    return lost;
  } finally {
    c.disconnect();
  }
}

/** Reads every acknowledged key back through the gateway: the ones missing or different. */
async function lostWrites(gw: RunningGateway, acked: Map<string, string>): Promise<string[]> {
  const lost: string[] = [];
  const entries = [...acked];
  for (let i = 0; i < entries.length; i += 64) {
    await Promise.all(entries.slice(i, i + 64).map(async ([key, value]) => {
      const res = await fetch(`${gw.url}/v1/kv/carts/${key}`);
      const body = await res.text();
      if (res.status !== 200 || body !== value) lost.push(key);
    }));
  }
  return lost;
}

/** Resolves once `at` holds `n` entries from `fromMs` on, or after `timeoutMs`. */
async function acks(at: number[], fromMs: number, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (at.filter((t) => t >= fromMs).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Load until ACKS_BEFORE writes were acknowledged (and at least `beforeMs`), a forced
 * failover, load until `afterMs` after it finished (with `untilRelinked`: after the old master
 * replicates from the new one, and until ACKS_AFTER more were acknowledged). Counts, not
 * times, so a slow shared machine still puts the same load across the failover.
 */
async function failoverUnderLoad(s: SentinelFixture, gw: RunningGateway, opts: { beforeMs?: number; afterMs?: number; untilRelinked?: boolean } = {}) {
  let failoverMs = 0;
  let newMaster = 0;
  let t0 = 0;
  let t1 = 0;
  let t2 = 0;
  const ackedAtMs: number[] = [];
  const run = (async () => {
    await new Promise((r) => setTimeout(r, opts.beforeMs ?? 800));
    await acks(ackedAtMs, 0, ACKS_BEFORE, 20_000);
    t0 = Date.now();
    newMaster = await s.group.failover();
    t1 = Date.now();
    failoverMs = t1 - t0;
    if (opts.untilRelinked) await s.group.waitReplicaLinked();
    t2 = Date.now();
    await new Promise((r) => setTimeout(r, opts.afterMs ?? 1500));
    if (opts.untilRelinked) await acks(ackedAtMs, t2, ACKS_AFTER, 10_000);
  })();
  const loadStart = Date.now();
  const load = await writeUnderLoad(gw, run, ackedAtMs);
  await run;
  const phases = `acked/s before ${rate(load.ackedAtMs, loadStart, t0)}, during ${rate(load.ackedAtMs, t0, t1)}, `
    + (opts.untilRelinked ? `until the old master replicates (${t2 - t1} ms) ${rate(load.ackedAtMs, t1, t2)}, after ${rate(load.ackedAtMs, t2, Date.now())}` : `after ${rate(load.ackedAtMs, t1, Date.now())}`);
  const ackedAfterRelink = load.ackedAtMs.filter((t) => t >= t2).length;
  return { ...load, failoverMs, newMaster, phases, ackedAfterRelink };
}

function rate(at: number[], fromMs: number, toMs: number): number {
  return Math.round(at.filter((t) => t >= fromMs && t < toMs).length / Math.max(0.001, (toMs - fromMs) / 1000));
}

function ackedAfter(statuses: Map<string, number>): number {
  return (statuses.get('200') ?? 0) + (statuses.get('201') ?? 0);
}

describe('store on Redis Sentinel', () => {
  it('serves through the sentinels and keeps serving across a forced failover; durability replica loses no acknowledged write', async () => {
    const { s, gw } = await sentinelRegion('replica');
    const first = await s.group.masterPort();
    const r = await failoverUnderLoad(s, gw, { untilRelinked: true, afterMs: 1000 });
    expect(r.newMaster).not.toBe(first);
    const lost = await lostWrites(gw, r.acked);
    expect(await lostOnMaster(s, gw, r.acked)).toEqual([]);
    console.log(`[sentinel replica] failover ${r.failoverMs} ms, ${r.acked.size} acked, lost ${lost.length}; ${r.phases}; answers ${JSON.stringify(Object.fromEntries(r.statuses))}`);
    expect(lost).toEqual([]);
    expect(r.acked.size).toBeGreaterThanOrEqual(ACKS_BEFORE);
    expect(r.ackedAfterRelink).toBeGreaterThanOrEqual(ACKS_AFTER); // acknowledging again once the new master has a replica
    // the gateway writes to the new master now (its keys are there, read straight from it)
    const direct = new Redis({ host: '127.0.0.1', port: r.newMaster, lazyConnect: true });
    cleanups.push(async () => { direct.disconnect(); });
    await direct.connect();
    expect((await direct.call('ROLE') as unknown[])[0]).toBe('master');
    const res = await fetch(`${gw.url}/v1/kv/carts/after-failover`, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(201);
    expect(await direct.exists(gw.store.keys.record('carts', 'after-failover'))).toBe(1);
  });

  it('durability replica: a write no replica acknowledges in time answers 503 write_outcome_unknown, never 200', async () => {
    const { s, gw } = await sentinelRegion('replica');
    const { replica } = await s.group.roles();
    replica.freeze(); // alive for the sentinels' bookkeeping a moment, but it acknowledges nothing
    cleanups.unshift(async () => replica.thaw());
    const t0 = Date.now();
    const res = await fetch(`${gw.url}/v1/kv/carts/unacked`, { method: 'PUT', body: 'x' });
    const body = ((await res.json()) as { error: { code: string } }).error;
    const waitedMs = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(body.code).toBe('write_outcome_unknown');
    expect(waitedMs).toBeGreaterThanOrEqual(450); // waited replicaWaitMs (500), bounded
    expect(waitedMs).toBeLessThan(2000);
    // the next ones are refused before they run (nothing written) until a probe is due
    const t1 = Date.now();
    const next = await fetch(`${gw.url}/v1/kv/carts/refused`, { method: 'PUT', body: 'x' });
    expect(next.status).toBe(503);
    expect(((await next.json()) as { error: { code: string } }).error.code).toBe('replica_unavailable');
    expect(Date.now() - t1).toBeLessThan(200);
    expect((await fetch(`${gw.url}/v1/kv/carts/refused`)).status).toBe(404);
    replica.thaw();
    // once the replica answers again, a probe goes through and writes are acknowledged again
    expect(await eventually(async () => (await fetch(`${gw.url}/v1/kv/carts/later`, { method: 'PUT', body: 'y' })).status === 201, 10_000, 100)).toBe(true);
  });

  it('durability local: acknowledged writes a failover loses are counted and noticed as a rollback without a restart', async () => {
    const { s, gw } = await sentinelRegion('local');
    const r = await failoverUnderLoad(s, gw);
    const lost = await lostOnMaster(s, gw, r.acked);
    const lostTotal = await metric(gw, 'geogate_store_data_lost_total');
    const seqsRolledBack = await metric(gw, 'geogate_store_seqs_rolled_back_total');
    console.log(`[sentinel local] failover ${r.failoverMs} ms, ${r.acked.size} acked (${ackedAfter(r.statuses)} answers 200/201), lost ${lost.length}, store-lost events ${lostTotal}, seqs rolled back ${seqsRolledBack}; ${r.phases}; answers ${JSON.stringify(Object.fromEntries(r.statuses))}`);
    expect(r.acked.size).toBeGreaterThanOrEqual(ACKS_BEFORE);
    // whenever an acknowledged write was lost, the gateway noticed the rollback
    if (lost.length > 0) expect(lostTotal).toBeGreaterThan(0);
    expect(seqsRolledBack).toBeGreaterThanOrEqual(lost.length); // counted: at least every acknowledged write lost
  });
});

describe('the fence clock across a failover', () => {
  it('the new master\'s clock is sampled before a fence is mapped on it: the old master\'s samples are dropped at the reconnect', async () => {
    const s = await startSentinelGroup();
    cleanups.push(() => s.stop());
    const cfg = { ...s.redisConfig('fc:'), commandTimeoutMs: 2000 };
    const conn = createStoreConnection(cfg, silentLogger());
    cleanups.push(async () => { conn.disconnect(); });
    const store = new RegionStore(conn, { region: 'east', prefix: 'fc:', partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    await eventually(() => conn.status === 'ready');
    await store.setFence('orders', 0, 1, performance.now() + 60_000);
    expect(store.redisClock.offsetMs()).toBeDefined();
    const newMaster = await s.group.failover();
    const onNewMaster = async () => conn.status === 'ready' && /tcp_port:(\d+)/.exec(await conn.info('server'))?.[1] === String(newMaster);
    expect(await eventually(() => onNewMaster().catch(() => false), 10_000)).toBe(true);
    expect(store.redisClock.offsetMs()).toBeUndefined(); // nothing of the old server's clock is left
    await store.setFence('orders', 0, 2, performance.now() + 5000);
    const direct = new Redis({ host: '127.0.0.1', port: newMaster });
    cleanups.push(async () => { direct.disconnect(); });
    const [fence, time] = await Promise.all([direct.get(store.keys.fence('orders', 0)), direct.time()]);
    const endMs = Number(fence!.split(':')[1]);
    const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    expect(fence!.startsWith('2:')).toBe(true);
    expect(endMs - nowMs).toBeGreaterThan(4000); // mapped on this server's clock
    expect(endMs - nowMs).toBeLessThanOrEqual(5000);
  });
});

describe('a store that came back with a shorter log (what a failover to a lagging replica leaves)', () => {
  it('the first write on it is refused and the loss is reported before any log seq is reused', async () => {
    const { redis } = await startRedis();
    cleanups.push(() => redis.stop());
    const conn = createStoreConnection({ url: redis.url, keyPrefix: 'rb:', commandTimeoutMs: 2000 }, silentLogger());
    cleanups.push(async () => { conn.disconnect(); });
    const store = new RegionStore(conn, { region: 'east', prefix: 'rb:', partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    let losses = 0;
    let seqsLost: number | undefined;
    store.onIdentityLost((loss) => { losses++; seqsLost = loss.seqsLost; });
    await eventually(() => conn.status === 'ready');
    await store.checkIdentity();
    const put = (key: string) => store.write({
      keyspace: 'carts', key, partition: 0, bucket: 0, value: Buffer.from(key), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false,
    });
    for (let i = 1; i <= 10; i++) expect((await put(`k${i}`)).seq).toBe(i);
    // the replica the sentinels promoted had the first 6 writes only (same identity, shorter log)
    const raw = new Redis(redis.url);
    cleanups.push(async () => { raw.disconnect(); });
    await raw.set('rb:seq', '6');
    const kept = await raw.xrangeBuffer('rb:log', '-', '6-0');
    await raw.del('rb:log'); // a stream whose last id is 6, as the replica's is
    for (const [id, fields] of kept) await raw.xadd('rb:log', id.toString(), ...fields);
    for (let i = 7; i <= 10; i++) await raw.del(`rb:r:carts:k${i}`);
    // no reconnect, no identity check tick in between: the write itself must notice
    const next = await put('after').then((r) => r.seq, (err: Error) => `${err.name}: ${err.message}`);
    expect(next).toMatch(/^StoreError: .*lost its data/); // not seq 7 again, under the same log incarnation
    await eventually(() => losses > 0, 2000);
    expect(losses).toBe(1);
    expect(seqsLost).toBe(4); // seqs 7..10
    // once reported (the gateway then renews the log incarnation), writes go on
    expect((await put('after')).seq).toBe(7);
    expect(losses).toBe(1);
  });
});

async function metric(gw: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}
