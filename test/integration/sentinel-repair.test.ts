/**
 * Two regions: east on Redis Sentinel (durability local), west on a standalone Redis. A forced
 * failover at east under load loses the writes the promoted replica had not received; east
 * notices (no gateway restart), handles it as a rollback, and gets back from west what west
 * had received of them. Counted: what east lost at the failover, what the repair brought
 * back, what no region holds any more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/ports.js';
import { startGateway, type RunningGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { baseConfig, eventually, startRedis } from '../helpers/cluster.js';
import { startSentinelGroup } from '../helpers/sentinel.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const WRITERS = 8;
const KEYSPACE = { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' };

async function missing(gw: RunningGateway, acked: Map<string, string>): Promise<string[]> {
  const out: string[] = [];
  const entries = [...acked];
  for (let i = 0; i < entries.length; i += 64) {
    await Promise.all(entries.slice(i, i + 64).map(async ([key, value]) => {
      const res = await fetch(`${gw.url}/v1/kv/carts/${key}`);
      if (res.status !== 200 || (await res.text()) !== value) out.push(key);
    }));
  }
  return out.sort();
}

async function metric(gw: RunningGateway, name: string): Promise<number> {
  const line = (await (await fetch(`${gw.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('Sentinel failover at one region, durability local', () => {
  it('the writes the failover lost are noticed, counted, and repaired from the peer as far as it holds them', async () => {
    const s = await startSentinelGroup();
    cleanups.push(() => s.stop());
    const { redis: westRedis } = await startRedis();
    cleanups.push(() => westRedis.stop());
    const [eastPort, westPort] = [await freePort(), await freePort()];
    const prefix = `sr${Math.random().toString(36).slice(2, 8)}:`;
    const regions = ['east', 'west'];
    const extra = { keyspaces: [KEYSPACE], antiEntropy: { backgroundIntervalMs: 0 } };
    const east = await startGateway(baseConfig('east', regions, 'redis://unused', eastPort, {
      ...extra, redis: s.redisConfig(prefix), peers: [{ region: 'west', url: `http://127.0.0.1:${westPort}` }],
    }), { log: silentLogger() });
    cleanups.push(() => east.close());
    const west = await startGateway(baseConfig('west', regions, westRedis.url, westPort, {
      ...extra, redis: { url: westRedis.url, keyPrefix: prefix }, peers: [{ region: 'east', url: `http://127.0.0.1:${eastPort}` }],
    }), { log: silentLogger() });
    cleanups.push(() => west.close());
    expect(await eventually(() => east.writesOpen() && west.writesOpen(), 15_000)).toBe(true);

    const acked = new Map<string, string>();
    let done = false;
    const load = Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; !done; i++) {
        const key = `w${w}-${i}`;
        const value = `v${w}-${i}`;
        const res = await fetch(`${east.url}/v1/kv/carts/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(5000) }).catch(() => null);
        if (res && (res.status === 200 || res.status === 201)) acked.set(key, value);
        else await new Promise((r) => setTimeout(r, 20));
        await res?.arrayBuffer().catch(() => {});
      }
    }));
    await new Promise((r) => setTimeout(r, 800));
    await eventually(() => acked.size >= 150, 20_000, 20); // the same load before the failover on a slow shared machine
    await s.group.failover();
    await new Promise((r) => setTimeout(r, 1000));
    done = true;
    await load;

    const events = await metric(east, 'geogate_store_data_lost_total');
    const seqs = await metric(east, 'geogate_store_seqs_rolled_back_total');
    // east's store as the failover left it, and after the repair from west (triggered by the rollback)
    const lostAtFailover = await missing(east, acked);
    const atWest = await missing(west, acked).then((m) => acked.size - m.length);
    const converged = await eventually(async () => (await missing(east, acked)).length === (await missing(west, acked)).length
      && (await missing(east, acked)).join() === (await missing(west, acked)).join(), 20_000, 250);
    const lostEverywhere = await missing(east, acked);
    console.log(`[sentinel repair] ${acked.size} acked at east; missing at east when the load stopped ${lostAtFailover.length} (log seqs the failover rolled back ${seqs}, store-lost events ${events}); `
      + `west held ${atWest} of the acked writes after the load; after the repair, lost in both regions ${lostEverywhere.length}; converged ${converged}`);
    expect(acked.size).toBeGreaterThanOrEqual(150);
    if (lostAtFailover.length > 0) expect(events).toBeGreaterThan(0);
    expect(seqs).toBeGreaterThanOrEqual(lostAtFailover.length);
    expect(converged).toBe(true);
    // what survives anywhere is back at east: only writes no region received are gone
    expect(lostEverywhere.length).toBeLessThanOrEqual(lostAtFailover.length);
    expect(lostEverywhere).toEqual(await missing(west, acked));
  });
});
