/**
 * Heal under load over a 40 ms WAN on real processes (issue 9; the container scenario in
 * test/containers/handover.test.ts, here with the gateways in this process so their metrics
 * can be read): two regions and a witness, the workload writing all along; east<->west cut
 * for 4 s (the witness hears both: fence partitions stay, diverge partitions diverge); after
 * the heal every partition must be merged within 10 s without the store being treated as
 * lost (no data-loss handling, which forces a full repair under load), and the checker finds
 * nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkHistory, formatReport } from '../checker/checker.js';
import { partitionOfConfig, readGrants, settle, type RegionStoreAccess } from '../checker/observe.js';
import { Workload } from '../checker/workload.js';
import { startCluster, TEST_SECRET } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

describe('heal under load over a 40 ms WAN', () => {
  it('east<->west cut 4 s while writing: merged within 10 s of the heal, the stores never treated as lost, nothing lost', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    const url = (r: string) => `http://127.0.0.1:${c.byName(r).port}`;
    const targets = ['east', 'west'].map((region) => ({ region, url: url(region), publicUrl: url(region) }));
    const workload = new Workload({ targets, fenceKeyspace: 'orders', divergeKeyspace: 'carts', keyPrefix: `hl-${Date.now().toString(36)}`,
      keysPerKeyspace: 16, clientsPerRegion: 4, durationMs: 16_000, seed: 11 });
    for (const r of c.relays) r.set('both', { delayMs: 40 });
    const running = workload.run();
    await sleep(2000);
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    await sleep(4000);
    c.relay('east', 'west').heal();
    c.relay('west', 'east').heal();
    const healedAt = Date.now();
    const seen: string[] = [];
    let mergedAfterMs: number | undefined;
    while (Date.now() - healedAt < 15_000) {
      const states = await Promise.all(['east', 'west'].map(async (r) => (await fetch(`${url(r)}/v1/status`)).json() as Promise<any>));
      const line = states.map((s, i) => `${i === 0 ? 'east' : 'west'}: diverged ${s.ownership.diverged.length} peers ${JSON.stringify(s.peers.map((p: any) => [p.region, p.state, p.needsRepair, p.lagEntries]))}`).join(' | ');
      if (seen.at(-1)?.split(' @ ')[0] !== line) seen.push(`${line} @ ${Date.now() - healedAt}`);
      if (states.every((s) => s.ownership.diverged.length === 0 && s.peers.every((p: any) => p.state === 'up' && !p.needsRepair))) {
        mergedAfterMs = Date.now() - healedAt;
        break;
      }
      await sleep(100);
    }
    const lost = { east: await metricSum(url('east'), 'geogate_store_data_lost_total'), west: await metricSum(url('west'), 'geogate_store_data_lost_total') };
    console.log(`[heal-load] merged ${mergedAfterMs ?? 'NOT within 15 s'} ms after the heal; store-lost handling ${JSON.stringify(lost)}\n  ${seen.join('\n  ')}`);
    const history = await running;
    const stores: RegionStoreAccess[] = c.regions.map((r) => {
      const u = new URL(r.redis.url);
      return { region: r.region, url: url(r.region), redisHost: u.hostname, redisPort: Number(u.port), prefix: r.config.redis.keyPrefix, partitionOf: partitionOfConfig(r.config) };
    });
    const settled = await settle(stores, [...new Set(history.ops.map((op) => `${op.keyspace}/${op.key}`))], 30_000);
    const result = checkHistory({ ops: history.ops, finals: settled.finals, journal: settled.journal, fenceKeyspaces: new Set(['orders']),
      grants: await readGrants(c.byName('west').config.witness!.url, TEST_SECRET), lwwKeyspaces: new Set(['carts']) });
    const report = formatReport(result, history.ops);
    expect(lost, report).toEqual({ east: 0, west: 0 });
    expect(mergedAfterMs, report).toBeDefined();
    expect(mergedAfterMs!).toBeLessThanOrEqual(10_000);
    expect(settled.unsettled, report).toBeUndefined();
    expect(result.violations, report).toEqual([]);
  }, 90_000);
});
