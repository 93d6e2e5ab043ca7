/**
 * Sync replicas at failover (issue 9): with node list [east, west, south(sync)], every write
 * east acknowledges is held by south. When east dies, its partitions must go to south, not
 * to west (the next in the node list), which may lack east's last acknowledged writes: west
 * would write without them and they would lose to its newer epoch when they reach it later.
 * With 2 gateway instances per region as well: east's writes alternate between its instances
 * (the one that is not the coordinator learns south's acks through the board), then every
 * instance of east stops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const KEYSPACE = {
  name: 'orders', partitions: 4, onSplit: 'fence', rotateHomes: false,
  nodes: [{ region: 'east' }, { region: 'west' }, { region: 'south', replication: 'sync' }],
};

describe.each([1, 2])('failover with a sync replica (%i gateway instance(s) per region)', (gatewaysPerRegion) => {
  it('goes to the sync replica, which has every write the dead owner acknowledged', async () => {
    cluster = await startCluster(['east', 'west', 'south'], { witness: true, wan: true, extra: { keyspaces: [KEYSPACE] }, gatewaysPerRegion });
    const c = cluster;
    const url = (r: string) => c.byName(r).gateway.url;
    const eastInstances = c.byName('east').instances;
    const leased = async () => {
      const coordinator = c.coordinatorOf('east');
      return coordinator !== undefined && (await (await fetch(`${coordinator.url}/v1/status`)).json()).ownership.leased === 4;
    };
    expect(await eventually(leased, 20_000)).toBe(true);
    // west hears nothing from east from now on: east's writes reach south (sync) only
    c.cutLink('east', 'west');
    const acked = new Map<string, string>();
    const ackedBy = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const inst = eastInstances[i % eastInstances.length]!;
      const res = await fetch(`${inst.url}/v1/kv/orders/k${i}`, { method: 'PUT', body: `v${i}`, redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 201) {
        acked.set(`k${i}`, `v${i}`);
        ackedBy.set(inst.id, (ackedBy.get(inst.id) ?? 0) + 1);
      }
    }
    console.log(`[sync-failover x${gatewaysPerRegion}] acked by instance: ${JSON.stringify([...ackedBy])}`);
    expect(acked.size).toBeGreaterThan(0);
    // the writes spread over every instance of east (sync acks learnt through the board by the others)
    for (const inst of eastInstances) expect(ackedBy.get(inst.id) ?? 0, inst.id).toBeGreaterThan(0);
    for (const inst of eastInstances) await inst.gateway.close();
    // the first region that takes writes for the partitions again must hold every acked write
    let owner = '';
    expect(await eventually(async () => {
      for (const r of ['west', 'south']) {
        const res = await fetch(`${url(r)}/v1/kv/orders/probe`, { method: 'PUT', body: 'p', redirect: 'manual' });
        if (res.status === 200 || res.status === 201) { owner = r; return true; }
      }
      return false;
    }, 15_000)).toBe(true);
    expect(owner).toBe('south');
    for (const [key, value] of acked) {
      const rec = await c.byName(owner).gateway.store.get('orders', key);
      expect(rec && Buffer.from(rec.value).toString(), key).toBe(value);
    }
    const decisions = (await (await fetch(`${url('south')}/v1/decisions`)).json()).decisions as { owner: string; previous: string | null }[];
    expect(decisions.filter((d) => d.previous === 'east').every((d) => d.owner === 'south')).toBe(true);
  }, 60_000);
});
