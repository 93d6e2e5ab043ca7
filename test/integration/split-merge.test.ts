import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually, type ClusterFixture } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

async function differing(c: ClusterFixture, ks: string, keys: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const key of keys) {
    const v = await Promise.all(c.regions.map((r) => r.gateway.store.get(ks, key)));
    if (v.some((x) => (x?.version ?? null) !== (v[0]?.version ?? null))) out.push(`${key}: ${c.regions.map((r, i) => `${r.region}=${v[i]?.version}`).join(' ')}`);
  }
  return out;
}

// with 2 instances per region (coordination, writers on every instance) the cut alone; the
// isolation as well with GEOGATE_GATEWAYS_PER_REGION=2
const CASES: [string, number][] = [['isolate', 1], ['cut', 1], ['cut', 2]];
const perRegionEnv = Number(process.env.GEOGATE_GATEWAYS_PER_REGION ?? 1);
if (perRegionEnv > 1) CASES.push(['isolate', perRegionEnv]);

describe('split → writes on both sides → heal → merge (witness, WAN relays)', () => {
  it.each(CASES)('multi-master diverge keys converge after %s (%i gateway instance(s) per region)', async (mode, gatewaysPerRegion) => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true, gatewaysPerRegion });
    const c = cluster;
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    let stop = false;
    let n = 0;
    const writer = async (url: string) => {
      const region = c.regions.find((r) => r.instances.some((i) => i.url === url))!.region;
      while (!stop) {
        const i = n++;
        const key = keys[i % keys.length]!;
        const op = i % 5;
        if (op === 3) {
          await fetch(`${url}/v1/kv/carts/${key}`, { method: 'DELETE' }).then((r) => r.arrayBuffer()).catch(() => {});
        } else if (op === 4) {
          // CAS increment
          const cur = await fetch(`${url}/v1/kv/carts/${key}`).catch(() => null);
          const etag = cur?.headers.get('etag');
          const body = cur && cur.status === 200 ? Number(await cur.text()) || 0 : (await cur?.arrayBuffer(), 0);
          await fetch(`${url}/v1/kv/carts/${key}`, { method: 'PUT', body: Buffer.from(String(body + 1)), headers: etag ? { 'if-match': etag } : { 'if-none-match': '*' } })
            .then((r) => r.arrayBuffer()).catch(() => {});
        } else {
          await fetch(`${url}/v1/kv/carts/${key}`, { method: 'PUT', body: Buffer.from(`${region}-${i}`) }).then((r) => r.arrayBuffer()).catch(() => {});
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const writers = c.regions.flatMap((r) => r.instances.map((i) => writer(i.url)));
    await new Promise((r) => setTimeout(r, 1000));
    if (mode === 'isolate') c.isolate('west');
    else c.cutLink('east', 'west');
    await new Promise((r) => setTimeout(r, 4000));
    c.healAll();
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    await Promise.all(writers);
    const pendingNone = async () => (await Promise.all(c.regions.map((r) => r.gateway.conflicts.pendingCount()))).every((x) => x === 0);
    const ok = await eventually(async () => (await differing(c, 'carts', keys)).length === 0 && (await pendingNone()), 20_000, 200);
    if (!ok) {
      console.log('differing:', await differing(c, 'carts', keys));
      for (const r of c.regions) console.log(r.region, c.coordinatorOf(r.region)?.id, JSON.stringify(c.coordinatorOf(r.region)?.gateway.replicator?.status()), 'pending', await r.gateway.conflicts.pendingCount());
      for (const r of c.regions) console.log(r.region, JSON.stringify((await (await fetch(`${r.gateway.url}/v1/status`)).json()).keyspaces[1].partitions.map((p: { active: string; state: string }) => `${p.active}/${p.state}`)));
    }
    expect(ok).toBe(true);
  });
});
