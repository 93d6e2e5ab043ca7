import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually, type ClusterFixture } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const put = (url: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body), headers, redirect: 'manual' });

async function valueAt(c: ClusterFixture, region: string, ks: string, key: string): Promise<string | null> {
  const rec = await c.byName(region).gateway.store.get(ks, key);
  return rec && !rec.tombstone ? Buffer.from(rec.value).toString() : null;
}

async function converged(c: ClusterFixture, ks: string, keys: string[], expected?: Map<string, string>): Promise<boolean> {
  for (const key of keys) {
    const values = await Promise.all(c.regions.map((r) => r.gateway.store.get(ks, key)));
    const first = values[0];
    if (values.some((v) => (v?.version ?? null) !== (first?.version ?? null))) return false;
    if (expected && (first ? Buffer.from(first.value).toString() : null) !== (expected.get(key) ?? null)) return false;
  }
  return true;
}

describe('replication between regions on real redis-server processes', () => {
  it('two regions: writes in each appear in both, single-master at the home region and multi-master anywhere', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status().every((p) => p.state === 'up')), 5000)).toBe(true);
    const expected = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const region = c.regions[i % 2]!;
      const res = await put(region.gateway.url, `carts/k${i}`, `v${i}`);
      expect(res.status).toBe(201);
      expected.set(`k${i}`, `v${i}`);
    }
    // single-master: follow the 307 to the home region
    for (let i = 0; i < 20; i++) {
      let res = await put(c.regions[0]!.gateway.url, `orders/o${i}`, `o${i}`);
      if (res.status === 307) res = await put(res.headers.get('location')!.replace(/\/v1\/kv\/.*/, ''), `orders/o${i}`, `o${i}`);
      expect(res.status).toBe(201);
    }
    expect(await eventually(() => converged(c, 'carts', [...expected.keys()], expected))).toBe(true);
    expect(await eventually(() => converged(c, 'orders', Array.from({ length: 20 }, (_, i) => `o${i}`)))).toBe(true);
    expect(await valueAt(c, 'west', 'orders', 'o3')).toBe('o3');
    const status = await (await fetch(`${c.regions[0]!.gateway.url}/v1/status`)).json();
    expect(status.peers[0].region).toBe('west');
    expect(status.peers[0].state).toBe('up');
    // a sender that keeps up ships fresh writes from the in-memory tail, not from Redis
    const metrics = await (await fetch(`${c.regions[0]!.gateway.url}/metrics`)).text();
    const hits = Number(/geogate_replication_tail_reads_total\{[^}]*result="hit"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(hits).toBeGreaterThan(0);
  });

  it('three regions fully meshed converge', async () => {
    cluster = await startCluster(['east', 'west', 'north']);
    const c = cluster;
    const expected = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      expect((await put(c.regions[i % 3]!.gateway.url, `carts/m${i}`, `x${i}`)).status).toBe(201);
      expected.set(`m${i}`, `x${i}`);
    }
    expect(await eventually(() => converged(c, 'carts', [...expected.keys()], expected))).toBe(true);
    // the apply script keeps the Merkle digests in step with the records (batched per bucket)
    for (let p = 0; p < 8; p++) {
      const [a, b] = await Promise.all(c.regions.map((r) => r.gateway.store.digests('carts', p)));
      expect(a, `partition ${p}`).toEqual(b);
    }
  });

  it('concurrent writes to one key converge everywhere and are journaled exactly once', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    expect((await put(c.byName('east').gateway.url, 'carts/shared', 'from-east')).status).toBe(201);
    expect((await put(c.byName('west').gateway.url, 'carts/shared', 'from-west')).status).toBe(201);
    c.relay('east', 'west').heal();
    c.relay('west', 'east').heal();
    expect(await eventually(() => converged(c, 'carts', ['shared']), 15_000)).toBe(true);
    const final = await valueAt(c, 'east', 'carts', 'shared');
    expect(['from-east', 'from-west']).toContain(final);
    const journals = await Promise.all(c.regions.map(async (r) => (await (await fetch(`${r.gateway.url}/v1/conflicts?keyspace=carts`)).json()).conflicts));
    const all = journals.flat() as Record<string, string>[];
    expect(all).toHaveLength(1);
    expect(all[0]!.type).toBe('key-conflict');
    expect(all[0]!.key).toBe('shared');
    const loserValue = Buffer.from(all[0]!.winner === 'current' ? all[0]!.incomingValue! : all[0]!.currentValue!, 'base64').toString();
    expect(new Set([final, loserValue])).toEqual(new Set(['from-east', 'from-west']));
    const pending = await Promise.all(c.regions.map((r) => r.gateway.conflicts.pendingCount()));
    expect(pending).toEqual([0, 0]);
  });

  it('a link cut during a stream of writes, then healed: no loss, no duplicate', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const east = c.byName('east');
    const expected = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      if (i === 100) { c.relay('east', 'west').cut('both', 'reset'); c.relay('west', 'east').cut('both', 'reset'); }
      if (i === 200) { c.relay('east', 'west').heal(); c.relay('west', 'east').heal(); }
      const res = await put(east.gateway.url, `carts/s${i}`, `v${i}`);
      expect(res.status).toBe(201);
      expected.set(`s${i}`, `v${i}`);
    }
    expect(await eventually(() => converged(c, 'carts', [...expected.keys()], expected), 20_000)).toBe(true);
    const incarnation = await east.gateway.store.incarnation();
    const head = (await east.gateway.store.bounds()).lastSeq;
    expect(await c.byName('west').gateway.store.appliedSeq('east', incarnation)).toBe(head);
    // every record at west is exactly east's first version: nothing applied twice, nothing re-versioned
    for (const key of expected.keys()) expect((await c.byName('west').gateway.store.get('carts', key))!.version).toBe('east:1');
  });

  it('a gateway killed and restarted resumes from its cursor', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    for (let i = 0; i < 50; i++) await put(c.byName('east').gateway.url, `carts/r${i}`, `a${i}`);
    await c.byName('west').gateway.close();
    for (let i = 50; i < 100; i++) await put(c.byName('east').gateway.url, `carts/r${i}`, `a${i}`);
    await c.restartGateway('west');
    const keys = Array.from({ length: 100 }, (_, i) => `r${i}`);
    expect(await eventually(() => converged(c, 'carts', keys, new Map(keys.map((k, i) => [k, `a${i}`]))), 15_000)).toBe(true);
  });

  it('a wrong cluster secret keeps the link down with a reason', async () => {
    cluster = await startCluster(['east', 'west'], {
      perRegion: (r) => (r === 'west' ? { cluster: { id: 'test', secret: 'another-secret-0123456789', regions: ['east', 'west'] } } : {}),
      waitWritable: false, // no link ever comes up, so neither region bootstraps
    });
    const c = cluster;
    await new Promise((r) => setTimeout(r, 1500));
    const peer = c.byName('east').gateway.replicator!.status()[0]!;
    expect(peer.state).not.toBe('up');
    expect(peer.linkState).not.toBe('open');
    await put(c.byName('east').gateway.url, 'carts/secret', 'x');
    await new Promise((r) => setTimeout(r, 500));
    expect(await valueAt(c, 'west', 'carts', 'secret')).toBeNull();
  });
});
