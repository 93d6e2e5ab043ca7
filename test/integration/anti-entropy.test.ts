import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, startRedis, eventually, type ClusterFixture } from '../helpers/cluster.js';
import { RegionStore } from '../../gateway/index.js';
import { AntiEntropy, type AeLinks, type AntiEntropyTunables } from '../../replicator/anti-entropy/index.js';
import { MerkleStore } from '../../gateway/store/merkle-store.js';
import { realClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import type { RunningGateway } from '../../gateway/index.js';
import type { ChangeRecord } from '../../replicator/types.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
/** These tests drive their own engine (with fast test options and a message tap), so the gateway's is off. */
const OWN_ENGINE = { antiEntropy: { enabled: false } };
let cluster: Cluster | undefined;
const engines: AntiEntropy[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) e.stop();
  await cluster?.stop();
  cluster = undefined;
});

const FAST: AntiEntropyTunables = { requestTimeoutMs: 3000, retryBackoffMs: 50, healDelayMs: 200 };

/** Composes anti-entropy into a running gateway the way gateway.ts will (the test owns it). */
function attach(g: RunningGateway, options: AntiEntropyTunables = {}, opts: { bootstrap?: boolean; seen?: unknown[] } = {}): AntiEntropy {
  const r = g.replicator!;
  const links: AeLinks = {
    registerTopic: (topic, handler) => r.registerTopic(topic, (peer, body) => { opts.seen?.push(body); return handler(peer, body); }),
    sendControl: (peer, topic, body) => r.sendControl(peer, topic, body),
    status: () => r.status(),
    onNeedsRepair: (l) => r.onNeedsRepair(l),
    onPeerState: (l) => r.onPeerState(l),
    clearNeedsRepair: (peer) => r.clearNeedsRepair(peer),
  };
  const ae = new AntiEntropy({
    region: g.config.region, store: new MerkleStore(g.store), links, maps: g.context.maps, clock: realClock,
    log: silentLogger(), onConflicts: () => g.conflictWorker.kick(), options: { ...FAST, ...options },
  });
  ae.start(opts.bootstrap ? { bootstrap: true } : {});
  engines.push(ae);
  return ae;
}

const put = (url: string, path: string, body: string) => fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body) });
const del = (url: string, path: string) => fetch(`${url}/v1/kv/${path}`, { method: 'DELETE' });
const up = (c: ClusterFixture) => eventually(() => c.regions.every((r) => r.gateway.replicator!.status().every((p) => p.state === 'up')), 10_000);

async function digestsEqual(c: ClusterFixture, ks: string): Promise<boolean> {
  const parts = c.regions[0]!.gateway.context.maps.get(ks)!.keyspace.partitions;
  for (let p = 0; p < parts; p++) {
    const all = await Promise.all(c.regions.map((r) => r.gateway.store.digests(ks, p)));
    const norm = all.map((d) => JSON.stringify(Object.entries(d).filter(([, v]) => v !== '0000000000000000').sort()));
    if (norm.some((x) => x !== norm[0])) return false;
  }
  return true;
}

async function sameRecords(c: ClusterFixture, ks: string, keys: string[]): Promise<boolean> {
  for (const key of keys) {
    const recs = await Promise.all(c.regions.map((r) => r.gateway.store.get(ks, key)));
    const sig = recs.map((x) => (x ? `${x.version}|${x.tombstone}|${Buffer.from(x.value).toString('hex')}` : 'absent'));
    if (sig.some((s) => s !== sig[0])) return false;
  }
  return true;
}

/** A version written straight into one region's store, bypassing the log (only anti-entropy can carry it). */
function version(g: RunningGateway, key: string, vv: Record<string, number>, value: string, tombstone = false): ChangeRecord {
  const { partition, bucket } = g.context.maps.get('carts')!.place(key);
  return { seq: 0, keyspace: 'carts', key, partition, bucket, record: { value: Buffer.from(tombstone ? '' : value), contentType: 'text/plain', vv, hlc: [Date.now() - 10_000, 0], origin: Object.keys(vv)[0]!, epoch: 0, tombstone } };
}

async function pendingZero(c: ClusterFixture): Promise<boolean> {
  return (await Promise.all(c.regions.map((r) => r.gateway.conflicts.pendingCount()))).every((n) => n === 0);
}

describe('Merkle anti-entropy between regions (real redis-server)', () => {
  it('repairs a split whose logs were trimmed past the cursors: identical digests and records, deletes kept', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, extra: { log: { maxEntries: 16 }, ...OWN_ENGINE } });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const aeEast = attach(east);
    const aeWest = attach(west);
    expect(await up(c)).toBe(true);
    const base = Array.from({ length: 10 }, (_, i) => `base${i}`);
    for (const k of base) expect((await put(east.url, `carts/${k}`, `b-${k}`)).status).toBe(201);
    expect(await eventually(() => sameRecords(c, 'carts', base))).toBe(true);

    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    const keys = [...base];
    for (let i = 0; i < 30; i++) { await put(east.url, `carts/e${i}`, `east-${i}`); keys.push(`e${i}`); }
    for (let i = 0; i < 30; i++) { await put(west.url, `carts/w${i}`, `west-${i}`); keys.push(`w${i}`); }
    for (let i = 0; i < 4; i++) { await put(east.url, `carts/s${i}`, 'from-east'); await put(west.url, `carts/s${i}`, 'from-west'); keys.push(`s${i}`); }
    expect((await del(east.url, 'carts/base0')).status).toBeLessThan(300); // delete vs untouched
    expect((await del(west.url, 'carts/base1')).status).toBeLessThan(300);
    await put(west.url, 'carts/base2', 'west-update'); // update vs delete
    expect((await del(east.url, 'carts/base2')).status).toBeLessThan(300);
    await put(east.url, 'carts/e0', 'east-again');
    expect((await del(east.url, 'carts/e1')).status).toBeLessThan(300); // created and deleted inside the split
    expect(await digestsEqual(c, 'carts')).toBe(false);

    c.relay('east', 'west').heal();
    c.relay('west', 'east').heal();
    // the trimmed logs make both senders report a gap → needs-repair → anti-entropy
    expect(await eventually(async () => (await digestsEqual(c, 'carts')) && (await pendingZero(c)) && (await sameRecords(c, 'carts', keys)), 30_000)).toBe(true);
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status().every((p) => !p.needsRepair)), 10_000)).toBe(true);
    const b0 = await west.store.get('carts', 'base0');
    expect(b0?.tombstone).toBe(true); // a delete never comes back
    expect((await west.store.get('carts', 'e1'))?.tombstone).toBe(true);
    expect(Buffer.from((await west.store.get('carts', 'w5'))!.value).toString()).toBe('west-5');
    expect(Buffer.from((await east.store.get('carts', 'w5'))!.value).toString()).toBe('west-5');
    const bytes = aeEast.bytes().west!.sent + aeWest.bytes().east!.sent;
    expect(bytes).toBeGreaterThan(0);
  });

  it('bytes exchanged grow with the difference, not with the data set', async () => {
    cluster = await startCluster(['east', 'west'], { extra: OWN_ENGINE });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const aeEast = attach(east, { repairOnHeal: false });
    attach(west, { repairOnHeal: false });
    expect(await up(c)).toBe(true);
    const value = 'x'.repeat(200);
    const keys = Array.from({ length: 3000 }, (_, i) => `bulk${i}`);
    for (let i = 0; i < keys.length; i += 500) {
      await Promise.all(keys.slice(i, i + 500).map((key) => {
        const { partition, bucket } = east.context.maps.get('carts')!.place(key);
        return east.store.write({ keyspace: 'carts', key, partition, bucket, value: Buffer.from(value), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false });
      }));
    }
    east.replicator!.notifyAppended();
    expect(await eventually(() => digestsEqual(c, 'carts'), 20_000)).toBe(true);
    const dataBytes = keys.length * (value.length + 10);
    // 10 keys diverge outside the log: 5 newer at west, 5 only at east
    const diverged = [
      ...keys.slice(0, 5).map((k) => version(west, k, { east: 1, west: 1 }, `${value}-w`)),
    ];
    await west.store.applyVersions(diverged);
    await east.store.applyVersions(Array.from({ length: 5 }, (_, i) => version(east, `only-east-${i}`, { east: 7 }, value)));
    expect(await digestsEqual(c, 'carts')).toBe(false);
    const before = aeEast.bytes().west ?? { sent: 0, received: 0 };
    const stats = await aeEast.repairAll('west');
    const after = aeEast.bytes().west!;
    const exchanged = after.sent - before.sent + after.received - before.received;
    expect(stats.failed).toBe(0);
    expect(stats.pulled.applied).toBe(5);
    expect(stats.pushed.applied).toBe(5);
    expect(await digestsEqual(c, 'carts')).toBe(true);
    const divergedBytes = 10 * (value.length + 20);
    expect(exchanged).toBeLessThan(dataBytes / 10);
    console.log(`anti-entropy: ${exchanged} bytes for 10 diverged records (${divergedBytes} B) in a ${dataBytes} B data set`);
  });

  it('a wiped region is rebuilt from its peer', async () => {
    cluster = await startCluster(['east', 'west'], { extra: { log: { maxEntries: 16 }, ...OWN_ENGINE } });
    const c = cluster;
    const east = c.byName('east').gateway;
    attach(east);
    attach(c.byName('west').gateway);
    expect(await up(c)).toBe(true);
    const keys = Array.from({ length: 120 }, (_, i) => `k${i}`);
    for (const k of keys) await put(i2(c, k), `carts/${k}`, `v-${k}`);
    await del(east.url, 'carts/k3');
    expect(await eventually(() => sameRecords(c, 'carts', keys), 15_000)).toBe(true);

    await c.byName('west').gateway.close();
    engines.splice(1, 1)[0]!.stop();
    const raw = new Redis(c.byName('west').redis.url);
    await raw.flushall();
    const probe = new MerkleStore(new (await import('../../gateway/index.js')).RegionStore(raw, { region: 'west', prefix: c.byName('west').config.redis.keyPrefix, partitionOf: () => 0, logMaxEntries: 16, logMaxBytes: 1 << 20, nowMs: () => Date.now() }));
    expect(await probe.startedEmpty()).toBe(true);
    raw.disconnect();
    await c.restartGateway('west');
    const west = c.byName('west').gateway;
    attach(west, {}, { bootstrap: true });
    expect(await eventually(async () => (await digestsEqual(c, 'carts')) && (await sameRecords(c, 'carts', keys)), 30_000)).toBe(true);
    expect((await west.store.get('carts', 'k3'))?.tombstone).toBe(true);
    expect(Buffer.from((await west.store.get('carts', 'k77'))!.value).toString()).toBe('v-k77');
  });

  it('restores one partition from a named source region (pull only, same conflict rules)', async () => {
    cluster = await startCluster(['east', 'west'], { extra: OWN_ENGINE });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    attach(east, { repairOnHeal: false });
    const aeWest = attach(west, { repairOnHeal: false });
    expect(await up(c)).toBe(true);
    const map = east.context.maps.get('carts')!;
    const inP = (prefix: string, p: number, n: number) => {
      const out: string[] = [];
      for (let i = 0; out.length < n; i++) if (map.place(`${prefix}${i}`).partition === p) out.push(`${prefix}${i}`);
      return out;
    };
    const fromEast = inP('r', 3, 6);
    await east.store.applyVersions(fromEast.map((k) => version(east, k, { east: 2 }, `restored-${k}`)));
    const westOnly = inP('wo', 3, 2);
    await west.store.applyVersions(westOnly.map((k) => version(west, k, { west: 1 }, 'west-only')));
    const conflictKey = inP('cf', 3, 1)[0]!;
    await east.store.applyVersions([version(east, conflictKey, { east: 1 }, 'e')]);
    await west.store.applyVersions([version(west, conflictKey, { west: 1 }, 'w')]);

    const stats = await aeWest.restorePartition('east', 'carts', 3);
    expect(stats.pulled.applied).toBe(6);
    expect(stats.pulled.conflict).toBe(1);
    expect(stats.pushed.applied).toBe(0);
    for (const k of fromEast) expect(Buffer.from((await west.store.get('carts', k))!.value).toString()).toBe(`restored-${k}`);
    for (const k of westOnly) expect(await east.store.get('carts', k)).toBeNull(); // nothing pushed to the source
    await expect(aeWest.restorePartition('nowhere', 'carts', 3)).rejects.toThrow(/not a peer/);
  });

  it('collects a tombstone only once every region holds it; it never comes back', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, extra: OWN_ENGINE });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const aeEast = attach(east, { tombstoneGraceMs: 0, repairOnHeal: false });
    attach(west, { tombstoneGraceMs: 0, repairOnHeal: false });
    expect(await up(c)).toBe(true);
    // y: east holds the tombstone, west still an older live version (the delete did not reach it)
    await east.store.applyVersions([version(east, 'y', { east: 1 }, 'old'), version(east, 'y', { east: 2 }, '', true)]);
    await west.store.applyVersions([version(west, 'y', { east: 1 }, 'old')]);
    // z: deleted through the API and replicated: both hold the tombstone
    await put(east.url, 'carts/z', 'z');
    await del(east.url, 'carts/z');
    expect(await eventually(async () => (await west.store.get('carts', 'z'))?.tombstone === true)).toBe(true);
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status().every((p) => p.lagEntries === 0 && p.remote?.lagEntries === 0)))).toBe(true);

    const first = await aeEast.collectTombstones();
    expect(first.skipped).toBeNull();
    expect(first.collected).toBe(1); // z only: west still has an older live y
    expect(await east.store.get('carts', 'z')).toBeNull();
    expect(await west.store.get('carts', 'z')).toBeNull();
    expect((await east.store.get('carts', 'y'))?.tombstone).toBe(true);

    await aeEast.repairAll('west'); // west gets the y tombstone
    expect((await west.store.get('carts', 'y'))?.tombstone).toBe(true);
    expect((await aeEast.collectTombstones()).collected).toBe(1);
    expect(await west.store.get('carts', 'y')).toBeNull();
    await aeEast.repairAll('west');
    expect(await east.store.get('carts', 'y')).toBeNull();
    expect(await west.store.get('carts', 'y')).toBeNull();
    expect(await digestsEqual(c, 'carts')).toBe(true);

    // with the link down nothing is collected
    await east.store.applyVersions([version(east, 'q', { east: 1 }, '', true)]);
    await west.store.applyVersions([version(west, 'q', { east: 1 }, '', true)]);
    c.relay('east', 'west').cut('both', 'reset');
    c.relay('west', 'east').cut('both', 'reset');
    expect(await eventually(() => east.replicator!.status()[0]!.state !== 'up', 5000)).toBe(true);
    const refused = await aeEast.collectTombstones();
    expect(refused.skipped).toMatch(/west/);
    expect((await east.store.get('carts', 'q'))?.tombstone).toBe(true);
  });

  it('a session that pushes converges in its next round: the responder re-reads only the buckets it applied', async () => {
    cluster = await startCluster(['east', 'west'], { extra: OWN_ENGINE });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const aeEast = attach(east, { repairOnHeal: false });
    attach(west, { repairOnHeal: false });
    expect(await up(c)).toBe(true);
    const p = east.context.maps.get('carts')!.place('k0').partition;
    const keys = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((k) => east.context.maps.get('carts')!.place(k).partition === p);
    await east.store.applyVersions(keys.filter((_, i) => i % 2 === 0).map((k) => version(east, k, { east: 1 }, `e-${k}`)));
    await west.store.applyVersions(keys.filter((_, i) => i % 2 === 1).map((k) => version(west, k, { west: 1 }, `w-${k}`)));
    const stats = await aeEast.repairPartition('west', 'carts', p);
    expect(stats.pulled.applied + stats.pushed.applied).toBe(keys.length);
    expect(stats.rounds).toBe(1);
    expect(stats.converged).toBe(true);
    expect(await digestsEqual(c, 'carts')).toBe(true);
    // a new session reads the trees again and finds nothing to do
    expect((await aeEast.repairPartition('west', 'carts', p)).rounds).toBe(0);
  });

  it('answers malformed anti-entropy messages with an error and keeps working', async () => {
    cluster = await startCluster(['east', 'west'], { extra: OWN_ENGINE });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const seen: unknown[] = [];
    const aeEast = attach(east, { repairOnHeal: false }, { seen });
    attach(west, { repairOnHeal: false });
    expect(await up(c)).toBe(true);
    const r = east.replicator!;
    expect(r.sendControl('west', 'ae', 'not a map')).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'tree', id: 901, ks: 'carts', p: 0 })).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'bogus', id: 902 })).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'get', id: 903, ks: 'carts', p: 0, keys: Array.from({ length: 9000 }, (_, i) => `k${i}`) })).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'tree', id: 904, sid: 's', ks: 'nope', p: 0, n: 1024, f: 16, lv: -1, ps: [] })).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'tree', id: 905, sid: 's', ks: 'carts', p: 0, n: 7, f: 16, lv: -1, ps: [] })).toBe(true);
    expect(r.sendControl('west', 'ae', { op: 'r', id: 999_999, h: 'x' })).toBe(true);
    const errorFor = (id: number) => seen.find((m) => (m as { op?: string; id?: number }).op === 'e' && (m as { id: number }).id === id) as { code: string } | undefined;
    expect(await eventually(() => [901, 902, 903, 904, 905].every((id) => errorFor(id)))).toBe(true);
    expect(errorFor(901)!.code).toBe('bad_request');
    expect(errorFor(903)!.code).toBe('bad_request');
    expect(errorFor(904)!.code).toBe('unknown_keyspace');
    expect(errorFor(905)!.code).toBe('config_mismatch');
    await west.store.applyVersions([version(west, 'after-garbage', { west: 1 }, 'ok')]);
    const stats = await aeEast.repairPartition('west', 'carts', west.context.maps.get('carts')!.place('after-garbage').partition);
    expect(stats.pulled.applied).toBe(1);
    expect(west.replicator!.status()[0]!.state).toBe('up');
  });
});

function i2(c: ClusterFixture, key: string): string {
  return c.regions[Number(key.slice(1)) % 2]!.gateway.url;
}

describe('MerkleStore reads (real redis-server)', () => {
  it('packed leaves and re-read digests match the digest hash; member and record reads are bounded', async () => {
    const { redis } = await startRedis();
    const client = new Redis(redis.url);
    try {
      const store = new RegionStore(client, { region: 'east', prefix: 'ms:', partitionOf: () => 2, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000 });
      const ms = new MerkleStore(store);
      const rec = (key: string, bucket: number): ChangeRecord => ({ seq: 0, keyspace: 'carts', key, partition: 2, bucket,
        record: { value: Buffer.from([0, 255, 1]), contentType: 'application/octet-stream', vv: { west: 1 }, hlc: [1000, 0], origin: 'west', epoch: 0, tombstone: false } });
      // bucket 5: 20 keys, 6: 6 keys, 8: 6 keys, then one key per bucket 132..299
      const recs = Array.from({ length: 300 }, (_, i) => rec(`k${i}`, i < 20 ? 5 : i < 26 ? 6 : i < 32 ? 8 : 100 + i));
      await store.applyVersions(recs);
      await client.hset(store.keys.digest('carts', 2), '77777', 'ffffffffffffffff', '9', 'not-hex-at-all!!');
      const hex = await store.digests('carts', 2);
      const leaves = await ms.leaves('carts', 2, 1000);
      expect(leaves.length).toBe(8000);
      for (let b = 0; b < 1000; b++) {
        const want = b === 9 ? '0000000000000000' : hex[String(b)] ?? '0000000000000000';
        expect(leaves.subarray(b * 8, b * 8 + 8).toString('hex')).toBe(want);
      }
      const some = [5, 999, 0, 7, 14];
      const again = await ms.leafDigests('carts', 2, some);
      some.forEach((b, i) => expect(again.subarray(i * 8, i * 8 + 8)).toEqual(leaves.subarray(b * 8, b * 8 + 8)));

      // larger than entriesMax → null; the read stops before the bucket that would pass entriesMax entries
      const members = await ms.bucketMembers('carts', 2, [5, 6, 8, 140, 3], 10);
      expect(members.length).toBe(2);
      expect(members[0]).toBeNull();
      expect([...members[1]!.keys()].sort()).toEqual(['k20', 'k21', 'k22', 'k23', 'k24', 'k25']);
      expect((await ms.bucketMembers('carts', 2, [8, 140, 141, 3], 8192)).map((m) => m?.size)).toEqual([6, 1, 1, 0]);
      expect((await ms.bucketMembers('carts', 2, [8, 6], 1)).map((m) => m?.size ?? null)).toEqual([null, null]);

      const rows = await ms.readRecords('carts', ['k1', 'absent', 'k2']);
      expect(rows[1]).toBeNull();
      expect(rows[0]![0]).toBe('k1');
      expect(Buffer.from(rows[0]![3])).toEqual(Buffer.from([0, 255, 1]));
      expect(rows[2]!.slice(4, 9)).toEqual(['application/octet-stream', 'west:1', rows[2]![6], 'west', 0]);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});
