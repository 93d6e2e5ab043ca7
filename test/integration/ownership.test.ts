import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { allLeased, eventually, keysHomedAt, startCluster } from '../helpers/cluster.js';
import { PartitionMap } from '../../gateway/index.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const put = (url: string, path: string, body: string) =>
  fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body), redirect: 'manual' });

describe('ownership through the witness (real processes)', () => {
  it('a killed region\'s fence partitions become writable at the survivor within detection + lease', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const [key] = keysHomedAt(c, 'east', 1);
    const west = c.byName('west').gateway.url;
    const before = await put(west, `orders/${key}`, 'x');
    expect(before.status).toBe(307);
    expect(before.headers.get('location')).toBe(`${c.byName('east').gateway.url.replace('127.0.0.1', '127.0.0.1')}/v1/kv/orders/${key}`);
    const t0 = Date.now();
    await c.stopGateway('east');
    let status = 0;
    while (Date.now() - t0 < 10_000) {
      status = (await put(west, `orders/${key}`, 'after-failover')).status;
      if (status === 201 || status === 200) break;
      expect([307, 503]).toContain(status);
      await new Promise((r) => setTimeout(r, 25));
    }
    const failoverMs = Date.now() - t0;
    console.log(`failover: first accepted write at the survivor ${failoverMs} ms after the kill`);
    expect(status).toBe(201);
    expect(failoverMs).toBeLessThan(5000);
    const decisions = await (await fetch(`${west}/v1/decisions`)).json();
    expect(decisions.decisions.some((d: { owner: string; previous: string | null }) => d.owner === 'west' && d.previous === 'east')).toBe(true);
  });

  it('witness down alone: nothing changes hands, owners keep writing; restarted: epochs intact', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const witnessStatus = async () => {
      const res = await fetch(`${c.byName('east').gateway.url}/v1/decisions`);
      return (await res.json()).decisions.length as number;
    };
    const decisionsBefore = await witnessStatus();
    await c.stopWitness();
    await new Promise((r) => setTimeout(r, 4000)); // > 2 × leaseMs
    expect(await allLeased(c)).toBe(true);
    for (const home of ['east', 'west']) {
      for (const key of keysHomedAt(c, home, 3)) expect((await put(c.byName(home).gateway.url, `orders/${key}`, 'w')).status).toBeLessThan(300);
    }
    expect(await witnessStatus()).toBe(decisionsBefore);
    await c.startWitness();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await allLeased(c)).toBe(true);
    expect(await witnessStatus()).toBe(decisionsBefore);
  });

  it('WAN cut between regions, both reach the witness: every fence key writable at exactly one region', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    await new Promise((r) => setTimeout(r, 3000));
    let accepted = 0;
    for (let i = 0; i < 30; i++) {
      const statuses = await Promise.all(c.regions.map(async (r) => (await put(r.gateway.url, `orders/cut${i}`, r.region)).status));
      const ok = statuses.filter((s) => s === 201 || s === 200).length;
      expect(ok, `key cut${i}: ${statuses.join(',')}`).toBe(1);
      expect(statuses.every((s) => [200, 201, 307, 503].includes(s))).toBe(true);
      accepted += ok;
    }
    expect(accepted).toBe(30);
    c.healAll();
  });

  it('an isolated region stops taking fence writes before the other region takes them over', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const [key] = keysHomedAt(c, 'east', 1);
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    const t0 = Date.now();
    c.isolate('east');
    let eastStoppedAt = 0;
    let westTookAt = 0;
    while (Date.now() - t0 < 10_000 && !(eastStoppedAt && westTookAt)) {
      const [e, w] = await Promise.all([put(east, `orders/${key}`, 'e'), put(west, `orders/${key}`, 'w')]);
      const now = Date.now() - t0;
      if (!eastStoppedAt && e.status === 503) eastStoppedAt = now;
      if (!westTookAt && (w.status === 201 || w.status === 200)) westTookAt = now;
      if (westTookAt) expect(e.status, 'east must not write once west does').not.toBeLessThan(300);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(eastStoppedAt).toBeGreaterThan(0);
    expect(westTookAt).toBeGreaterThan(0);
    expect(eastStoppedAt).toBeLessThan(westTookAt);
    c.healAll();
  });
});

describe('failback', () => {
  it('a returning preferred region gets its partitions back after catching up, with no acknowledged write lost', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const keys = keysHomedAt(c, 'east', 5);
    const west = c.byName('west').gateway.url;
    await c.stopGateway('east');
    const acked = new Map<string, string>();
    expect(await eventually(async () => (await put(west, `orders/${keys[0]}`, 'w0')).status < 300, 10_000)).toBe(true);
    acked.set(keys[0]!, 'w0');
    for (const [i, key] of keys.entries()) {
      // each partition fails over on its own: wait for each
      expect(await eventually(async () => (await put(west, `orders/${key}`, `during-${i}`)).status < 300, 10_000)).toBe(true);
      acked.set(key, `during-${i}`);
    }
    await c.restartGateway('east');
    const east = c.byName('east').gateway.url;
    // ownership returns to east once it caught up; west then redirects to it
    expect(await eventually(async () => (await put(west, `orders/${keys[0]}`, 'probe')).status === 307, 20_000)).toBe(true);
    acked.set(keys[0]!, 'probe-unacked');
    for (const [key, value] of acked) {
      if (value === 'probe-unacked') continue;
      const rec = await c.byName('east').gateway.store.get('orders', key);
      expect(rec && Buffer.from(rec.value).toString()).toBe(value);
    }
    expect(await eventually(async () => (await put(east, `orders/${keys[1]}`, 'after-failback')).status < 300, 10_000)).toBe(true);
    const decisions = (await (await fetch(`${east}/v1/decisions`)).json()).decisions as { owner: string; previous: string | null }[];
    expect(decisions.some((d) => d.owner === 'east' && d.previous === 'west')).toBe(true);
  });
});

/** West's view of the ownership changes: `${keyspace}/${partition}` of every decision from → to. */
async function movedPartitions(c: Cluster, from: string, to: string): Promise<Set<string>> {
  const res = await fetch(`${c.byName('west').gateway.url}/v1/decisions`);
  const decisions = (await res.json()).decisions as { keyspace: string; partition: number; owner: string; previous: string | null }[];
  return new Set(decisions.filter((d) => d.previous === from && d.owner === to).map((d) => `${d.keyspace}/${d.partition}`));
}

/**
 * Flips the lowest bit of one bucket digest (16 hex digits) in one Lua call: applying it twice
 * restores the value, also when replicated writes XORed into the bucket in between.
 */
const FLIP_DIGEST_BIT = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local flipped = string.sub(v, 1, 15) .. bit.tohex(bit.bxor(tonumber(string.sub(v, 16, 16), 16), 1), 1)
redis.call('HSET', KEYS[1], ARGV[1], flipped)
return flipped`;

describe('failback digest gate', () => {
  it('a partition whose digests differ in the caught-up preferred region stays put until they are equal again', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const cfg = c.regions[0]!.config;
    const map = new PartitionMap(cfg.keyspaces.find((k) => k.name === 'orders')!, cfg.cluster.regions, cfg.merkle.buckets);
    const eastHomed = Array.from({ length: 8 }, (_, p) => p).filter((p) => map.nodeList(p)[0]!.region === 'east').map((p) => `orders/${p}`);
    const [key] = keysHomedAt(c, 'east', 1);
    const { partition, bucket } = map.place(key!);
    const gated = `orders/${partition}`;
    const east = c.byName('east');
    const west = c.byName('west');
    expect((await put(east.gateway.url, `orders/${key}`, 'before')).status).toBe(201);
    expect(await eventually(async () => (await west.gateway.store.get('orders', key!)) !== null, 5000)).toBe(true);

    await c.stopGateway('east');
    expect(await eventually(async () => { const moved = await movedPartitions(c, 'east', 'west'); return eastHomed.every((p) => moved.has(p)); }, 10_000)).toBe(true);
    expect(await eventually(async () => (await put(west.gateway.url, `orders/${key}`, 'during')).status < 300, 5000)).toBe(true);
    // a down peer is "not in sync", never an error
    expect(await west.gateway.antiEntropy!.partitionInSync('east', 'orders', partition)).toBe(false);

    // East's gateway is down, its Redis runs: one bucket digest of `gated` goes wrong there.
    const digestKey = east.gateway.store.keys.digest('orders', partition);
    const eastRedis = new Redis(east.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    const westRedis = new Redis(west.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    try {
      expect(await eastRedis.eval(FLIP_DIGEST_BIT, 1, digestKey, String(bucket))).toMatch(/^[0-9a-f]{16}$/);

      await c.restartGateway('east');
      const t0 = Date.now();
      const others = eastHomed.filter((p) => p !== gated);
      expect(await eventually(async () => { const back = await movedPartitions(c, 'west', 'east'); return others.every((p) => back.has(p)); }, 15_000)).toBe(true);
      const normalMs = Date.now() - t0;
      // caught up by the lag rule (the write made during the outage arrived), digests still differ
      expect(await eventually(async () => Buffer.from((await east.gateway.store.get('orders', key!))?.value ?? []).toString() === 'during', 5000)).toBe(true);
      expect(await eventually(() => west.gateway.replicator!.status().some((s) => s.region === 'east' && s.state === 'up' && s.lagEntries === 0), 5000)).toBe(true);
      expect(await eastRedis.hget(digestKey, String(bucket))).not.toBe(await westRedis.hget(digestKey, String(bucket)));
      const holdMs = Math.max(3 * normalMs, 3000);
      await new Promise((r) => setTimeout(r, Math.max(0, holdMs - (Date.now() - t0))));
      console.log(`failback digest gate: other partitions back ${normalMs} ms after the restart; ${gated} still at west after ${Date.now() - t0} ms`);
      expect((await movedPartitions(c, 'west', 'east')).has(gated)).toBe(false);
      const [otherKey] = keysHomedAt(c, 'east', 8).filter((k) => map.place(k).partition !== partition);
      expect(await west.gateway.antiEntropy!.partitionInSync('east', 'orders', partition)).toBe(false);
      expect(await west.gateway.antiEntropy!.partitionInSync('east', 'orders', map.place(otherKey!).partition)).toBe(true);
      expect((await put(west.gateway.url, `orders/${key}`, 'still-west')).status).toBe(200);

      // restored: the digests agree again and the partition goes home
      expect(await eastRedis.eval(FLIP_DIGEST_BIT, 1, digestKey, String(bucket))).toMatch(/^[0-9a-f]{16}$/);
      expect(await eventually(async () => (await eastRedis.hget(digestKey, String(bucket))) === (await westRedis.hget(digestKey, String(bucket))), 5000)).toBe(true);
      const t1 = Date.now();
      expect(await eventually(async () => (await movedPartitions(c, 'west', 'east')).has(gated), 10_000)).toBe(true);
      console.log(`failback digest gate: ${gated} back ${Date.now() - t1} ms after the digest was restored`);
      expect(await west.gateway.antiEntropy!.partitionInSync('east', 'orders', partition)).toBe(true);
      expect((await put(west.gateway.url, `orders/${key}`, 'probe')).status).toBe(307);
      const rec = await east.gateway.store.get('orders', key!);
      expect(Buffer.from(rec!.value).toString()).toBe('still-west');
    } finally {
      eastRedis.disconnect();
      westRedis.disconnect();
    }
  });
});

describe('stale owner after a failover', () => {
  it('a write the isolated old owner acknowledged under its old epoch is journaled as stale-epoch and loses to the new owner\'s', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const [key] = keysHomedAt(c, 'east', 1);
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    expect((await put(east, `orders/${key}`, 'before')).status).toBe(201);
    expect(await eventually(async () => (await c.byName('west').gateway.store.get('orders', key!)) !== null, 5000)).toBe(true);
    c.isolate('east');
    // still inside its lease: the old owner acknowledges this write, which cannot replicate
    expect((await put(east, `orders/${key}`, 'old-owner')).status).toBe(200);
    expect(await eventually(async () => (await put(west, `orders/${key}`, 'new-owner')).status === 200, 10_000, 20)).toBe(true);
    c.healAll();
    const settled = async () => {
      const recs = await Promise.all(c.regions.map((r) => r.gateway.store.get('orders', key!)));
      const pending = await Promise.all(c.regions.map((r) => r.gateway.conflicts.pendingCount()));
      return recs[0]?.version === recs[1]?.version && pending.every((n) => n === 0);
    };
    expect(await eventually(settled, 20_000, 100)).toBe(true);
    const journal = (await Promise.all(c.regions.map(async (r) => (await (await fetch(`${r.gateway.url}/v1/conflicts?keyspace=orders`)).json()).conflicts))).flat()
      .filter((e: { key: string }) => e.key === key);
    expect(journal).toHaveLength(1);
    expect(journal[0].type).toBe('stale-epoch');
    const loser = journal[0].winner === 'current' ? journal[0].incomingValue : journal[0].currentValue;
    expect(Buffer.from(loser, 'base64').toString()).toBe('old-owner');
    const final = await c.byName('east').gateway.store.get('orders', key!);
    expect(Buffer.from(final!.value).toString()).toBe('new-owner');
  });
});
