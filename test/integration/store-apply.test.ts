import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RegionStore } from '../../gateway/index.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';
import type { ChangeRecord } from '../../replicator/types.js';
import { packEntry } from '../../replicator/packed.js';

const rec = (key: string, vv: Record<string, number>, value: string, seq = 0, origin = 'west'): ChangeRecord => ({
  seq, keyspace: 'carts', key, partition: 1, bucket: 3,
  record: { value: Buffer.from(value), contentType: 'text/plain', vv, hlc: [1000 + seq, 0], origin, epoch: 0, tombstone: false },
});

describe('store apply scripts (real redis-server)', () => {
  /** Script calls Redis ran (INFO commandstats). */
  const scriptCalls = async (): Promise<number> => {
    let n = 0;
    for (const m of (await client.info('commandstats')).matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) n += Number(m[1]);
    return n;
  };
  let redis: RedisProcess;
  let client: Redis;
  let store: RegionStore;
  beforeAll(async () => {
    ({ redis } = await startRedis());
    client = new Redis(redis.url);
    store = new RegionStore(client, { region: 'east', prefix: 'sa:', partitionOf: () => 1, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000 });
  });
  afterAll(async () => { client.disconnect(); await redis.stop(); });

  it('applies a log batch exactly once per (origin, incarnation) and advances the cursor', async () => {
    const batch = [rec('a', { west: 1 }, 'a1', 1), rec('b', { west: 1 }, 'b1', 2)];
    expect(await store.apply('west', 'inc1', batch.map(packEntry))).toEqual(['applied', 'applied']);
    expect(await store.apply('west', 'inc1', batch.map(packEntry))).toEqual(['duplicate', 'duplicate']);
    expect(await store.appliedSeq('west', 'inc1')).toBe(2);
    // a new incarnation of the origin's log starts its own cursor
    expect(await store.apply('west', 'inc2', [packEntry(rec('a', { west: 1 }, 'a1', 1))])).toEqual(['dominated']);
  });

  it('a batch of several partitions is applied in one call that raises the cursor; one received again is applied once', async () => {
    const one = new RegionStore(client, { region: 'east', prefix: 'so:', partitionOf: (_ks, key) => Number(key.slice(1)) % 3, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000 });
    const at = (key: string, seq: number): ChangeRecord => ({ ...rec(key, { west: 1 }, `${key}-v`, seq), partition: Number(key.slice(1)) % 3 });
    const batch = [at('p0', 1), at('p1', 2), at('p3', 3), at('p2', 4), at('p4', 5)].map(packEntry);
    const calls0 = await scriptCalls();
    expect(await one.apply('west', 'inc', batch)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    expect(await scriptCalls() - calls0).toBe(1);
    expect(await one.appliedSeq('west', 'inc')).toBe(5);
    for (const key of ['p0', 'p1', 'p2', 'p3', 'p4']) expect(Buffer.from((await one.get('carts', key))!.value).toString()).toBe(`${key}-v`);
    // the cursor covers every partition: none keeps a seq of its own
    for (const p of [0, 1, 2]) expect(await client.exists(one.keys.appliedIn('carts', p))).toBe(0);
    expect(await one.apply('west', 'inc', [...batch.slice(2), packEntry(at('p5', 6))])).toEqual(['duplicate', 'duplicate', 'duplicate', 'applied']);
    expect(await one.appliedSeq('west', 'inc')).toBe(6);
  });

  it('a batch grouped one call per slot: one received again after a stop half way is applied once', async () => {
    const parts = new RegionStore(client, { region: 'east', prefix: 'sp:', partitionOf: (_ks, key) => Number(key.slice(1)) % 3, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000, slotOwners: 'per-slot' });
    const at = (key: string, seq: number): ChangeRecord => ({ ...rec(key, { west: 1 }, `${key}-v`, seq), partition: Number(key.slice(1)) % 3 });
    const batch = [at('p0', 1), at('p1', 2), at('p3', 3), at('p2', 4), at('p4', 5)].map(packEntry);
    await parts.apply('warm', 'inc', [packEntry(at('w0', 1))]); // the scripts loaded: one EVALSHA per call below
    const calls0 = await scriptCalls();
    expect(await parts.apply('west', 'inc', batch)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    expect(await scriptCalls() - calls0).toBe(3 + 1); // one per partition, then the cursor
    expect(await parts.appliedSeq('west', 'inc')).toBe(5);
    for (const key of ['p0', 'p1', 'p2', 'p3', 'p4']) {
      expect(await client.exists(parts.keys.recordIn('carts', Number(key.slice(1)) % 3, key))).toBe(1);
      expect(Buffer.from((await parts.get('carts', key))!.value).toString()).toBe(`${key}-v`);
    }
    // the resume cursor was not raised (a stop between the partitions' calls and the cursor):
    // the batch comes again, every partition skips what it applied, the cursor is raised
    await client.hdel(parts.keys.applied, 'west|inc');
    expect(await parts.apply('west', 'inc', [...batch, packEntry(at('p5', 6))])).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'applied']);
    expect(await parts.appliedSeq('west', 'inc')).toBe(6);
    // a batch received again never lowers the cursor
    expect(await parts.apply('west', 'inc', batch.slice(0, 2))).toEqual(['duplicate', 'duplicate']);
    expect(await parts.appliedSeq('west', 'inc')).toBe(6);
  });

  it('dominated versions are dropped, concurrent ones are kept pending, a dominating one clears them', async () => {
    await store.write({ keyspace: 'carts', key: 'c', partition: 1, bucket: 3, value: Buffer.from('mine'), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false });
    expect(await store.applyVersions([rec('c', { west: 1 }, 'theirs')])).toEqual(['conflict']);
    expect((await store.get('carts', 'c'))!.version).toBe('east:1');
    expect(await client.scard('sa:pendidx')).toBe(1);
    expect(await store.applyVersions([rec('c', { east: 1, west: 2 }, 'merged')])).toEqual(['applied']);
    expect(Buffer.from((await store.get('carts', 'c'))!.value).toString()).toBe('merged');
    expect(await client.scard('sa:pendidx')).toBe(0);
    expect(await store.applyVersions([rec('c', { west: 1 }, 'old')])).toEqual(['dominated']);
  });

  it('keeps binary values of pending versions intact', async () => {
    await store.write({ keyspace: 'carts', key: 'bin', partition: 1, bucket: 3, value: Buffer.from([1, 2]), contentType: 'x', tombstone: false, epoch: 0, fenced: false });
    const bytes = Buffer.from([0, 255, 128, 10, 0]);
    expect(await store.applyVersions([{ ...rec('bin', { west: 1 }, ''), record: { ...rec('bin', { west: 1 }, '').record, value: bytes } }])).toEqual(['conflict']);
    const { ConflictStore } = await import('../../gateway/index.js');
    const cs = new ConflictStore(client, store.keys, { region: 'east', logMaxEntries: 100, logMaxBytes: 1 << 20, journalMaxEntries: 10, nowMs: () => 1 });
    const [pending] = await cs.pendingFor('carts', 'bin');
    expect(Buffer.from(pending!.record.value).equals(bytes)).toBe(true);
  });

  it('the log stays within its byte bound and trimming keeps the byte count exact', async () => {
    const small = new RegionStore(client, { region: 'east', prefix: 'lb:', partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 4096, nowMs: () => 1 });
    for (let i = 0; i < 40; i++) {
      await small.write({ keyspace: 'carts', key: `k${i}`, partition: 0, bucket: 0, value: Buffer.alloc(500), contentType: '', tombstone: false, epoch: 0, fenced: false });
    }
    const bytes = Number(await client.get('lb:logbytes'));
    expect(bytes).toBeLessThanOrEqual(4096);
    const b = await small.bounds();
    expect(b.lastSeq).toBe(40);
    expect(b.firstSeq).toBeGreaterThan(1);
    await small.trimThrough(b.lastSeq - 2);
    expect((await small.bounds()).length).toBe(2);
    // each entry counts its packed change plus a fixed 32 bytes of stream overhead
    const left = await small.readLog(0, 10, 1 << 20);
    expect(left.map((e) => e.seq)).toEqual([39, 40]);
    expect(Number(await client.get('lb:logbytes'))).toBe(left.reduce((n, e) => n + e.bytes.byteLength + 32, 0));
    expect(left[0]!.bytes.byteLength).toBeGreaterThan(500);
  });
});

describe('fence in the store (defence in depth)', () => {
  it('a fenced write is refused once the lease\'s fence key expired or carries another epoch', async () => {
    const { redis } = await startRedis();
    const client = new Redis(redis.url);
    const store = new RegionStore(client, { region: 'east', prefix: 'fe:', partitionOf: () => 2, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    const write = (epoch: number) => store.write({ keyspace: 'orders', key: 'k', partition: 2, bucket: 0, value: Buffer.from('v'), contentType: '', tombstone: false, epoch, fenced: true });
    try {
      await expect(write(3)).rejects.toMatchObject({ name: 'StoreError', code: -3 });
      await store.setFence('orders', 2, 3, performance.now() + 150);
      await expect(write(3)).resolves.toMatchObject({ created: true });
      await expect(write(2)).rejects.toMatchObject({ code: -3 });
      await new Promise((r) => setTimeout(r, 200));
      await expect(write(3)).rejects.toMatchObject({ code: -3 });
      expect((await store.bounds()).lastSeq).toBe(1);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});

describe('conflict worker on fence keyspaces', () => {
  it('tells a stale owner\'s write by the pair\'s epochs even when the resolver already knows a newer epoch (after failback)', async () => {
    const { redis } = await startRedis();
    const client = new Redis(redis.url);
    const { ConflictStore, parseGatewayConfig } = await import('../../gateway/index.js');
    const { ConflictWorker } = await import('../../gateway/merge/conflict-worker.js');
    const { Registry } = await import('prom-client');
    const { silentLogger } = await import('../../infra/log.js');
    const { realClock } = await import('../../infra/clock.js');
    const store = new RegionStore(client, { region: 'west', prefix: 'cw:', partitionOf: () => 0, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    const conflicts = new ConflictStore(client, store.keys, { region: 'west', logMaxEntries: 100, logMaxBytes: 1 << 20, journalMaxEntries: 100, nowMs: () => Date.now() });
    const config = parseGatewayConfig({
      region: 'west', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
      cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: ['east', 'west'] },
      keyspaces: [{ name: 'orders', partitions: 1, onSplit: 'fence' }],
    }, 't');
    const ks = config.keyspaces[0]!;
    const worker = new ConflictWorker({ valueBytesMax: 1 << 20,
      region: 'west', store, conflicts, keyspaces: new Map([['orders', ks]]), clock: realClock, log: silentLogger(), registry: new Registry(),
      authority: {
        check: () => ({ kind: 'local', epoch: 4, fenced: false }), activeRegion: () => 'west', partitionState: () => 'active',
        mayResolve: () => true, currentEpoch: () => 4, // failback: west owns the partition again, at epoch 4
      },
      onLocalWrite: () => {},
    });
    try {
      // west, the old owner, wrote at epoch 2 while isolated; east, owner at epoch 3, wrote concurrently
      await store.write({ keyspace: 'orders', key: 'o', partition: 0, bucket: 0, value: Buffer.from('old-owner'), contentType: '', tombstone: false, epoch: 2, fenced: false });
      const incoming = { seq: 1, keyspace: 'orders', key: 'o', partition: 0, bucket: 0,
        record: { value: Buffer.from('new-owner'), contentType: '', vv: { east: 1 }, hlc: [1, 0] as const, origin: 'east', epoch: 3, tombstone: false } };
      expect(await store.applyVersions([incoming])).toEqual(['conflict']);
      expect(await worker.drainOnce()).toBe(1);
      const [entry] = await conflicts.readJournal('', 10);
      expect(entry!.fields.type).toBe('stale-epoch');
      expect(Buffer.from((await store.get('orders', 'o'))!.value).toString()).toBe('new-owner');
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});
