import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually, type ClusterFixture } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const ADMIN = 'admin-token-0123456789';
const put = (url: string, path: string, body: string) => fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body) });

async function identical(c: ClusterFixture, ks: string, keys: string[]): Promise<boolean> {
  for (const key of keys) {
    const recs = await Promise.all(c.regions.map((r) => r.gateway.store.get(ks, key)));
    const sig = recs.map((x) => (x ? `${x.version}|${x.tombstone}|${Buffer.from(x.value).toString('hex')}` : 'absent'));
    if (sig.some((s) => s !== sig[0])) return false;
  }
  return true;
}

describe('merge after heal through the gateway\'s own anti-entropy', () => {
  it('a split whose logs were trimmed past the cursors converges after heal, nothing acknowledged lost', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, extra: { log: { maxEntries: 16 }, antiEntropy: { healDelayMs: 100 } } });
    const c = cluster;
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'up'), 5000)).toBe(true);
    for (const r of c.relays) r.cut('both', 'blackhole');
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'down'), 5000)).toBe(true);
    const keys: string[] = [];
    for (let i = 0; i < 40; i++) {
      for (const r of c.regions) {
        const key = `${r.region}-${i}`;
        expect((await put(r.gateway.url, `carts/${key}`, `v-${key}`)).status).toBe(201);
        keys.push(key);
      }
      expect((await put(c.regions[i % 2]!.gateway.url, `carts/shared-${i % 5}`, `s${i}`)).status).toBeLessThan(300);
    }
    c.healAll();
    const all = [...keys, ...Array.from({ length: 5 }, (_, i) => `shared-${i}`)];
    expect(await eventually(() => identical(c, 'carts', all), 20_000, 200)).toBe(true);
    for (const key of keys) {
      const rec = await c.byName('west').gateway.store.get('carts', key);
      expect(Buffer.from(rec!.value).toString()).toBe(`v-${key}`);
    }
  });

  it('POST /v1/admin/restore: token required, body checked, merges a partition from the source', async () => {
    cluster = await startCluster(['east', 'west'], { extra: { admin: { token: ADMIN }, antiEntropy: { repairOnHeal: false, backgroundIntervalMs: 0 } } });
    const c = cluster;
    const east = c.byName('east').gateway;
    const url = `${east.url}/v1/admin/restore`;
    const call = (body: unknown, token = ADMIN) => fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect((await call({ keyspace: 'carts', partition: 0, source: 'west' }, 'wrong-token-0123456789')).status).toBe(401);
    expect((await call({ keyspace: 'carts', partition: 99, source: 'west' })).status).toBe(400);
    expect((await call({ keyspace: 'carts', partition: 0, source: 'mars' })).status).toBe(400);
    expect((await call({ keyspace: 'nope', partition: 0, source: 'west' })).status).toBe(404);
    expect((await call({ keyspace: 'carts' })).status).toBe(400);
    // east loses one partition's data (an operator mistake, a bad disk): only a restore brings it back
    const west = c.byName('west').gateway;
    const keys = Array.from({ length: 60 }, (_, i) => `r${i}`);
    for (const key of keys) expect((await put(west.url, `carts/${key}`, `w-${key}`)).status).toBe(201);
    expect(await eventually(async () => (await east.store.get('carts', 'r59')) !== null, 10_000)).toBe(true);
    const map = west.context.maps.get('carts')!;
    const partition = map.place('r0').partition;
    const partKeys = keys.filter((k) => map.place(k).partition === partition);
    const k = east.store.keys;
    const redis = east.store.redis;
    for (const key of partKeys) await redis.del(k.record('carts', key), k.members('carts', partition, map.place(key).bucket));
    await redis.del(k.digest('carts', partition));
    expect(await east.store.get('carts', 'r0')).toBeNull();
    const res = await call({ keyspace: 'carts', partition, source: 'west' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.partition).toBe(partition);
    for (const key of partKeys) expect(Buffer.from((await east.store.get('carts', key))!.value).toString()).toBe(`w-${key}`);
  });

  it('admin endpoints are off without a token', async () => {
    cluster = await startCluster(['east', 'west']);
    const res = await fetch(`${cluster.byName('east').gateway.url}/v1/admin/restore`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('admin_disabled');
  });
});
