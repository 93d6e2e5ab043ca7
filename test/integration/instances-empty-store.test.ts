/**
 * Two instances per region, the region's Redis starts empty: the coordinator bootstraps from
 * its peer (its writes wait), and the instance that is not the coordinator must wait too. It
 * judges writes by the board, and its gate saw no bootstrap of its own (no role): before, it
 * latched open at once and took writes into the empty store with its counters restarted, and
 * an acknowledged write was silently lost at the heal (both regions ended on the old value).
 * Now the board's word that writes are open is the coordinator's gate (check and bootstrap).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, eventually, keysHomedAt } from '../helpers/cluster.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const put = async (url: string, key: string, value: string): Promise<number> => {
  const res = await fetch(`${url}/v1/kv/orders/${key}`, { method: 'PUT', body: value, redirect: 'manual', signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status;
};
const get = async (url: string, key: string): Promise<string | null> => {
  const res = await fetch(`${url}/v1/kv/orders/${key}`, { signal: AbortSignal.timeout(2000) });
  const body = await res.text();
  return res.status === 200 ? body : null;
};

describe('an empty store at a region of 2 instances', () => {
  it('the instance that is not the coordinator takes no write while the coordinator bootstraps', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true, gatewaysPerRegion: 2 });
    const c = cluster;
    const east = c.byName('east');
    const westUrl = c.byName('west').gateway.url;
    expect(await eventually(() => c.coordinatorOf('east')?.id === 'east-0' && c.coordinatorOf('east')!.gateway.replicator!.status().every((p) => p.state === 'up'), 20_000)).toBe(true);
    const [key] = keysHomedAt(c, 'east', 1) as [string];
    expect(await eventually(async () => (await put(east.instances[0]!.url, key, 'old-0')) < 300, 20_000, 100)).toBe(true);
    for (let i = 1; i <= 3; i++) expect(await put(east.instances[0]!.url, key, `old-${i}`)).toBeLessThan(300);
    expect(await eventually(async () => (await get(westUrl, key)) === 'old-3', 10_000, 100)).toBe(true);

    await c.stopRegion('east');
    const redis = new Redis(east.redis.url);
    try { await redis.flushall(); } finally { redis.disconnect(); }
    c.cutLink('east', 'west'); // the bootstrap cannot complete while the link is cut
    for (const i of east.instances) i.gateway = await startGateway(i.config, { log: silentLogger() });
    expect(await eventually(() => c.coordinatorOf('east') !== undefined, 20_000)).toBe(true);
    const coord = c.coordinatorOf('east')!;
    const other = east.instances.find((i) => i !== coord)!;

    const t0 = Date.now();
    const seen: string[] = [];
    let acceptedByOther: string | undefined;
    while (Date.now() - t0 < 8_000) {
      const sc = await put(coord.url, key, 'via-coordinator');
      const value = `new-${Date.now() - t0}`;
      const so = await put(other.url, key, value);
      const line = `coordinator ${sc} other ${so}`;
      if (seen.at(-1)?.startsWith(line) !== true) seen.push(`${line} @ ${Date.now() - t0} ms`);
      if (so < 300) { acceptedByOther = value; break; }
      await sleep(100);
    }
    const bootstrapAtAccept = JSON.stringify(coord.gateway.antiEntropy?.bootstrapStatus());
    const vvAtAccept = JSON.stringify((await other.gateway.store.get('orders', key))?.vv);
    const westVv = JSON.stringify((await c.byName('west').gateway.store.get('orders', key))?.vv);
    console.log(`[instances-empty-store] ${seen.join('; ')}; bootstrap at the coordinator: ${bootstrapAtAccept}; vv of the accepted write ${vvAtAccept}, west's ${westVv}`);
    // what an accepted write becomes once the link heals and the bootstrap merges west's versions
    if (acceptedByOther) {
      const acked = await get(other.url, key);
      c.healAll();
      await eventually(async () => (await get(westUrl, key)) === acceptedByOther, 15_000, 200);
      console.log(`[instances-empty-store] acked through ${other.id}: ${acked}; after heal east ${await get(coord.url, key)}, west ${await get(westUrl, key)}`);
    }
    // a write acked while the bootstrap is pending must not be lost to west's older versions
    if (acceptedByOther) expect(await get(westUrl, key), `acked ${acceptedByOther} while ${bootstrapAtAccept}`).toBe(acceptedByOther);
  }, 90_000);
});
