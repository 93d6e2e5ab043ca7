/**
 * A gateway instance that is not its region's coordinator restarts while the coordinator runs
 * on (a rolling restart, a crashed instance brought back), real redis-server processes, two
 * instances per region, a witness. Nothing was lost: the region's Redis kept everything. So
 * the restarted instance takes writes again as soon as it reads the coordinator's board, and
 * the region's log keeps its incarnation (no false data loss at the coordinator, no repair).
 * Its boot found no clean-stop mark for the log as it is now (the coordinator wrote on), and
 * it holds no links, so no peer's cursor can ever be compared at it.
 *
 * KNOWN FAILURE on main (docs/design-notes.md, "The fault scenarios with two instances per
 * region"): the restarted instance answers 503 bootstrapping for ROLLBACK_CHECK_WAIT_MS (6 s),
 * then opens "unchecked" (counters raised above all, a log incarnation renewal pending in its
 * memory), and when it later takes over as coordinator that renewal is written: the region's
 * log changes incarnation for nothing (second case). Out of the default suite until fixed:
 * GEOGATE_KNOWN_FAILURES=1 runs it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

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
  return Number(/^geogate_store_data_lost_total (\d+)/m.exec(text)?.[1] ?? 0);
};

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
    cluster = await startCluster(['east', 'west'], { witness: true, gatewaysPerRegion: 2 });
    const c = cluster;
    const east = c.byName('east');
    const linksUp = (id: string) => c.coordinatorOf('east')?.id === id && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up');
    expect(await eventually(() => linksUp('east-0'), 20_000)).toBe(true);
    const [first, other] = east.instances as [typeof east.instances[0], typeof east.instances[0]];
    const { Redis } = await import('ioredis');
    const redis = new Redis(east.redis.url);
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
});
