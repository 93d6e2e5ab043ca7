/**
 * A gateway instance that is not its region's coordinator restarts while the coordinator runs
 * on (a rolling restart, a crashed instance brought back), real redis-server processes, two
 * instances per region, a witness. Nothing was lost: the region's Redis kept everything. So
 * the restarted instance takes writes again as soon as it reads the coordinator's board, and
 * the region's log keeps its incarnation (no false data loss at the coordinator, no repair).
 * Its boot found no clean-stop mark for the log as it is now (the coordinator wrote on), and
 * it holds no links, so no peer's cursor can ever be compared at it.
 *
 * Before the fix (docs/design-notes.md, "Restarts with several instances per region"): the
 * restarted instance answered 503 bootstrapping for ROLLBACK_CHECK_WAIT_MS (6 s, measured
 * 6039 ms), then opened "unchecked" (counters raised above all, a log incarnation renewal
 * pending in its memory), and when it later took over as coordinator that renewal was written:
 * the region's log changed incarnation for nothing (second case). The other cases: the region's
 * Redis rolled back while the instance was down (the coordinator notices it, not the restarted
 * instance's boot), the whole region restarted (with the clean-stop mark and without), and the
 * coordinator itself restarted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { ROLLBACK_CHECK_WAIT_MS } from '../../gateway/rollback-guard.js';
import { BOARD_VALID_MS } from '../../gateway/coordination/board.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes open again at the restarted instance within this (it reads the board every 20 ms). */
const WRITES_BACK_MS_MAX = 3000;

const put = async (url: string, key: string, value: string): Promise<number> => {
  const res = await fetch(`${url}/v1/kv/carts/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status;
};

const dataLost = async (url: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  // (labelled with the region: the line is `geogate_store_data_lost_total{region="east"} 0`)
  return text.split('\n').filter((l) => l.startsWith('geogate_store_data_lost_total')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
};

/** Two regions with two instances at east, east-0 its coordinator with its links up; a raw connection to east's Redis. */
async function eastOfTwo() {
  cluster = await startCluster(['east', 'west'], { witness: true, gatewaysPerRegion: 2 });
  const c = cluster;
  const east = c.byName('east');
  const linksUp = (id: string) => c.coordinatorOf('east')?.id === id && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up');
  expect(await eventually(() => linksUp('east-0'), 20_000)).toBe(true);
  const [first, other] = east.instances as [typeof east.instances[0], typeof east.instances[0]];
  const { Redis } = await import('ioredis');
  return { c, east, linksUp, first, other, redis: new Redis(east.redis.url) };
}

describe('an instance that is not the coordinator restarts (2 instances per region, real processes)', () => {
  it('takes writes again within the board\'s latency; the log keeps its incarnation, no data loss handled', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, gatewaysPerRegion: 2 });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => c.coordinatorOf('east')?.id === 'east-0' && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up'), 20_000)).toBe(true);
    const coordinator = east.instances[0]!;
    const other = east.instances[1]!;
    for (let i = 0; i < 5; i++) expect(await put(other.url, `before-${i}`, `v${i}`)).toBeLessThan(300);
    const incarnationKey = coordinator.gateway.store.keys.incarnation;
    const { Redis } = await import('ioredis');
    const redis = new Redis(east.redis.url);
    try {
      const incarnation = await redis.get(incarnationKey);
      expect(incarnation).not.toBeNull();
      await other.gateway.close();
      // the coordinator writes on while the other instance is away
      for (let i = 0; i < 5; i++) expect(await put(coordinator.url, `during-${i}`, `v${i}`)).toBeLessThan(300);
      other.gateway = await startGateway(other.config, { log: silentLogger() });
      const t0 = Date.now();
      const seen: string[] = [];
      let backMs: number | undefined;
      for (let i = 0; Date.now() - t0 < 10_000; i++) {
        const status = await put(other.url, `after-${i}`, `v${i}`);
        if (seen.at(-1)?.startsWith(`${status} `) !== true) seen.push(`${status} @ ${Date.now() - t0} ms`);
        if (status < 300) { backMs = Date.now() - t0; break; }
        await sleep(50);
      }
      await sleep(1500); // the coordinator's head poll would have seen a renewed incarnation by now
      const after = await redis.get(incarnationKey);
      console.log(`[instances-restart] writes through the restarted instance back after ${backMs ?? 'more than 10000'} ms (${seen.join(', ')}); `
        + `incarnation ${incarnation} -> ${after}; data losses handled at the coordinator ${await dataLost(coordinator.url)}`);
      expect(backMs, seen.join(', ')).toBeDefined();
      expect(backMs!, seen.join(', ')).toBeLessThanOrEqual(WRITES_BACK_MS_MAX);
      expect(after).toBe(incarnation);
      expect(await dataLost(coordinator.url)).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('then takes over as coordinator: no data loss handled, the log keeps its incarnation, the peers\' cursors go on', async () => {
    const { c, east, linksUp, first, other, redis } = await eastOfTwo();
    try {
      for (let i = 0; i < 5; i++) expect(await put(first.url, `before-${i}`, `v${i}`)).toBeLessThan(300);
      await other.gateway.close();
      for (let i = 0; i < 5; i++) expect(await put(first.url, `during-${i}`, `v${i}`)).toBeLessThan(300);
      other.gateway = await startGateway(other.config, { log: silentLogger() });
      // past the rollback check's wait, with writes through the coordinator going on
      for (let i = 0; i < 35; i++) { await put(first.url, `later-${i}`, `v${i}`); await sleep(200); }
      const incarnation = await redis.get(first.gateway.store.keys.incarnation);
      // the last writes of the old coordinator, a moment before it stops
      for (let i = 0; i < 10; i++) expect(await put(first.url, `last-${i}`, `v${i}`)).toBeLessThan(300);
      await first.gateway.close();
      const takeover = await eventually(() => linksUp('east-1'), 20_000);
      for (let i = 0; i < 5; i++) await put(other.url, `after-${i}`, `v${i}`);
      await sleep(1500);
      const after = await redis.get(first.gateway.store.keys.incarnation);
      const lost = await dataLost(other.url);
      // every write acknowledged at east reaches west (through the log, or a repair)
      const west = c.byName('west').gateway;
      const keys = [...Array.from({ length: 10 }, (_, i) => `last-${i}`), ...Array.from({ length: 35 }, (_, i) => `later-${i}`)];
      const missing = async () => (await Promise.all(keys.map(async (k) => ((await west.store.get('carts', k)) ? null : k)))).filter((k) => k !== null);
      const replicated = await eventually(async () => (await missing()).length === 0, 10_000, 200);
      console.log(`[instances-restart] at west 10 s after the takeover, missing: ${(await missing()).join(' ') || 'none'}`);
      console.log(`[instances-restart] east-1 took over: ${takeover}; incarnation ${incarnation} -> ${after}; data losses handled at east-1 ${lost}`);
      expect(takeover).toBe(true);
      expect(replicated, (await missing()).join(' ')).toBe(true);
      expect(lost).toBe(0);
      expect(after).toBe(incarnation);
    } finally {
      redis.disconnect();
    }
  }, 90_000);

  it('the region\'s Redis rolls back while the instance is down: the coordinator handles it, the restarted instance writes under the new log, west gets everything', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, gatewaysPerRegion: 2 });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => c.coordinatorOf('east')?.id === 'east-0' && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up'), 20_000)).toBe(true);
    const [coordinator, other] = east.instances as [typeof east.instances[0], typeof east.instances[0]];
    const west = c.byName('west').gateway;
    const { Redis } = await import('ioredis');
    const redis = new Redis(east.redis.url);
    try {
      for (let i = 0; i < 5; i++) expect(await put(coordinator.url, `a${i}`, `a${i}`)).toBeLessThan(300);
      expect(await eventually(async () => (await west.store.get('carts', 'a4')) !== null, 10_000)).toBe(true);
      // a replica's copy of east's data keys (not the coordinator's lease, board or instance list)
      const prefix = coordinator.config.redis.keyPrefix;
      const coordinationKey = (k: string) => /^(coordinator|instances)/.test(k.slice(prefix.length));
      const names = (await redis.keys(`${prefix}*`)).filter((k) => !coordinationKey(k));
      const copy = await Promise.all(names.map(async (k) => [k, await redis.dumpBuffer(k), await redis.pttl(k)] as const));
      await other.gateway.close();
      for (let i = 0; i < 5; i++) expect(await put(coordinator.url, `b${i}`, `b${i}`)).toBeLessThan(300);
      expect(await eventually(async () => (await west.store.get('carts', 'b4')) !== null, 10_000)).toBe(true);
      const before = await redis.get(coordinator.gateway.store.keys.incarnation);
      // the failover to a replica that missed b0..b4, while east-1 is down
      const now = (await redis.keys(`${prefix}*`)).filter((k) => !coordinationKey(k));
      const tx = redis.multi();
      for (const k of now) tx.del(k);
      for (const [k, dump, ttl] of copy) if (dump) tx.restore(k, ttl > 0 ? ttl : 0, dump);
      await tx.exec();
      const noticed = await eventually(async () => (await dataLost(coordinator.url)) > 0, 5_000);
      other.gateway = await startGateway(other.config, { log: silentLogger() });
      const t0 = Date.now();
      const back = await eventually(async () => (await put(other.url, 'c0', 'c0')) < 300, 10_000, 50);
      const backMs = Date.now() - t0;
      for (let i = 1; i < 5; i++) expect(await put(other.url, `c${i}`, `c${i}`)).toBeLessThan(300);
      const after = await redis.get(coordinator.gateway.store.keys.incarnation);
      // east-1's writes reach west under the new log; east gets b0..b4 back from west (repair)
      const atWest = await eventually(async () => (await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await west.store.get('carts', `c${i}`)) !== null))).every(Boolean), 10_000, 100);
      const repaired = await eventually(async () => (await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await other.gateway.store.get('carts', `b${i}`)) !== null))).every(Boolean), 15_000, 100);
      console.log(`[instances-restart] rollback while down: noticed by the coordinator ${noticed} (data losses ${await dataLost(coordinator.url)}); east-1 back after ${backMs} ms; incarnation ${before} -> ${after}; c0..c4 at west ${atWest}; b0..b4 back at east ${repaired}`);
      expect(noticed).toBe(true);
      expect(back).toBe(true);
      expect(after).not.toBe(before);
      expect(atWest).toBe(true);
      expect(repaired).toBe(true);
      expect(await dataLost(other.url)).toBe(0); // handled once, by the coordinator
    } finally {
      redis.disconnect();
    }
  }, 90_000);

  for (const mark of ['with the clean-stop mark', 'without a clean-stop mark'] as const) it(`the whole region restarts ${mark}: both instances take writes, nothing handled as lost, the log keeps its incarnation`, async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, gatewaysPerRegion: 2 });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => c.coordinatorOf('east')?.id === 'east-0' && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up'), 20_000)).toBe(true);
    const [first, second] = east.instances as [typeof east.instances[0], typeof east.instances[0]];
    const keys = first.gateway.store.keys;
    const { Redis } = await import('ioredis');
    const redis = new Redis(east.redis.url);
    try {
      for (let i = 0; i < 5; i++) expect(await put(second.url, `before-${i}`, `v${i}`)).toBeLessThan(300);
      const incarnation = await redis.get(keys.incarnation);
      await second.gateway.close();
      await first.gateway.close();
      // past the last board's validity: no word of the stopped coordinator is trusted at the boots
      await sleep(BOARD_VALID_MS + 100);
      if (mark === 'without a clean-stop mark') await redis.del(keys.cleanStop);
      else expect(await redis.get(keys.cleanStop)).not.toBeNull();
      const t0 = Date.now();
      [first.gateway, second.gateway] = await Promise.all([startGateway(first.config, { log: silentLogger() }), startGateway(second.config, { log: silentLogger() })]);
      const backMs: Record<string, number | undefined> = {};
      await Promise.all([first, second].map(async (inst) => {
        for (let i = 0; Date.now() - t0 < 15_000; i++) {
          if ((await put(inst.url, `after-${inst.id}-${i}`, `v${i}`)) < 300) { backMs[inst.id] = Date.now() - t0; return; }
          await sleep(50);
        }
      }));
      await sleep(1500);
      const after = await redis.get(keys.incarnation);
      const lost = (await dataLost(first.url)) + (await dataLost(second.url));
      console.log(`[instances-restart] region restart ${mark}: writes back after ${JSON.stringify(backMs)} ms; coordinator ${c.coordinatorOf('east')?.id}; incarnation ${incarnation} -> ${after}; data losses ${lost}`);
      // the check ended before its wait ran out (an instance that opened unchecked would wait it all)
      for (const inst of [first, second]) expect(backMs[inst.id] ?? Infinity, inst.id).toBeLessThan(ROLLBACK_CHECK_WAIT_MS);
      expect(after).toBe(incarnation);
      expect(lost).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 90_000);

  it('the coordinator itself restarts: the other takes over, the restarted one takes writes again, the log keeps its incarnation', async () => {
    const { c, east, linksUp, first, other, redis } = await eastOfTwo();
    try {
      for (let i = 0; i < 5; i++) expect(await put(first.url, `before-${i}`, `v${i}`)).toBeLessThan(300);
      const incarnation = await redis.get(first.gateway.store.keys.incarnation);
      await first.gateway.close();
      expect(await eventually(() => linksUp('east-1'), 20_000)).toBe(true);
      for (let i = 0; i < 5; i++) expect(await put(other.url, `during-${i}`, `v${i}`)).toBeLessThan(300);
      first.gateway = await startGateway(first.config, { log: silentLogger() });
      const t0 = Date.now();
      const back = await eventually(async () => (await put(first.url, 'after-0', 'v0')) < 300, 10_000, 50);
      const backMs = Date.now() - t0;
      await sleep(1500);
      const after = await redis.get(first.gateway.store.keys.incarnation);
      const west = c.byName('west').gateway;
      const keys = ['after-0', ...Array.from({ length: 5 }, (_, i) => `during-${i}`)];
      const replicated = await eventually(async () => (await Promise.all(keys.map(async (k) => (await west.store.get('carts', k)) !== null))).every(Boolean), 10_000, 100);
      const lost = (await dataLost(first.url)) + (await dataLost(other.url));
      console.log(`[instances-restart] coordinator restart: back after ${backMs} ms; incarnation ${incarnation} -> ${after}; data losses ${lost}; at west ${replicated}`);
      expect(back).toBe(true);
      expect(backMs).toBeLessThanOrEqual(WRITES_BACK_MS_MAX);
      expect(after).toBe(incarnation);
      expect(lost).toBe(0);
      expect(replicated).toBe(true);
    } finally {
      redis.disconnect();
    }
  }, 90_000);
});
