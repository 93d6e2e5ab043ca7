/**
 * The store refuses a stale coordinator (real redis-server): instance A holds the region's
 * coordinator lease, loses it (expired: frozen past it), B takes it under a new token; A's
 * scripts that change shared state — applying a peer's batch, setting or dropping a fence,
 * recording an owner, trimming the log, the conflict retention sweep, a re-offer — are
 * refused with NotCoordinator and change nothing, while B's run. With the one-instance
 * token '' nothing is checked (today's behaviour). The resolution script carries the same
 * check (includes/coordinator.lua).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConflictStore, RegionStore } from '../../gateway/index.js';
import { RedisLeaseStore } from '../../gateway/coordination/index.js';
import { StoreErrorCode } from '../../gateway/store/errors.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';
import type { ChangeRecord } from '../../replicator/types.js';
import { packEntry } from '../../replicator/packed.js';

const rec = (key: string, seq: number): ChangeRecord => ({
  seq, keyspace: 'carts', key, partition: 1, bucket: 3,
  record: { value: Buffer.from(`v${seq}`), contentType: 'text/plain', vv: { west: seq }, hlc: [1000 + seq, 0], origin: 'west', epoch: 0, tombstone: false },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a stale coordinator\'s scripts are refused by the store (real redis-server)', () => {
  let redis: RedisProcess;
  let client: Redis;
  beforeAll(async () => {
    ({ redis } = await startRedis());
    client = new Redis(redis.url);
  });
  afterAll(async () => { client.disconnect(); await redis.stop(); });

  it('after a takeover, the old token is refused for every coordinator script and the new one runs', async () => {
    const prefix = 'cs1:';
    let tokenA = '';
    let tokenB = '';
    const opts = { region: 'east', prefix, partitionOf: () => 1, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000 };
    const a = new RegionStore(client, { ...opts, coordinatorToken: () => tokenA });
    const b = new RegionStore(client, { ...opts, coordinatorToken: () => tokenB });
    const leases = new RedisLeaseStore(client, a.keys);
    const claimA = await leases.claim('A', 'http://a', 300);
    expect(claimA.holder).toBe('A');
    tokenA = String(claimA.token);
    expect(await a.apply('west', 'inc1', [packEntry(rec('k1', 1))])).toEqual(['applied']);
    // a second instance cannot take a held lease
    expect((await leases.claim('B', 'http://b', 300)).holder).toBe('A');
    await sleep(400); // A frozen past its lease
    const claimB = await leases.claim('B', 'http://b', 300);
    expect(claimB).toMatchObject({ holder: 'B', url: 'http://b' });
    expect(claimB.token).toBeGreaterThan(claimA.token);
    tokenB = String(claimB.token);

    const refused = { name: 'StoreError', code: StoreErrorCode.NotCoordinator };
    await expect(a.apply('west', 'inc1', [packEntry(rec('k2', 2))])).rejects.toMatchObject(refused);
    expect(await a.appliedSeq('west', 'inc1')).toBe(1);
    expect(await a.get('carts', 'k2')).toBeNull();
    await expect(a.applyVersions([rec('k3', 3)])).rejects.toMatchObject(refused);
    await expect(a.setFence('orders', 0, 4, performance.now() + 5000)).rejects.toMatchObject(refused);
    expect(await client.get(a.keys.fence('orders', 0))).toBeNull();
    await b.setFence('orders', 1, 4, performance.now() + 5000);
    await expect(a.dropFence('orders', 1)).rejects.toMatchObject(refused);
    expect(await client.get(a.keys.fence('orders', 1))).toMatch(/^4:/);
    await expect(a.writeOwner(`${prefix}owners`, 'orders:1', 'west:9')).rejects.toMatchObject(refused);
    expect(await client.hget(`${prefix}owners`, 'orders:1')).toBeNull();
    // the log: three writes, A's trim refused, B's runs
    for (let i = 0; i < 3; i++) {
      await b.write({ keyspace: 'carts', key: `w${i}`, partition: 1, bucket: 0, value: Buffer.from('x'), contentType: '', tombstone: false, epoch: 0, fenced: false });
    }
    await a.incarnation();
    await expect(a.trimThrough(2)).rejects.toMatchObject(refused);
    expect(await client.xlen(a.keys.log)).toBe(3);
    await b.incarnation();
    await b.trimThrough(2);
    expect(await client.xlen(a.keys.log)).toBe(1);
    const conflictsA = new ConflictStore(client, a.keys, { region: 'east', logMaxEntries: 100, logMaxBytes: 1 << 20, journalMaxEntries: 10, nowMs: () => 1, coordinatorToken: () => tokenA });
    const conflictsB = new ConflictStore(client, a.keys, { region: 'east', logMaxEntries: 100, logMaxBytes: 1 << 20, journalMaxEntries: 10, nowMs: () => 1, coordinatorToken: () => tokenB });
    const bounds = { journalMaxEntries: 10, journalMaxBytes: 1 << 20, journalMaxAgeMs: 1000, deadLetterMaxEntries: 10, deadLetterMaxAgeMs: 1000 };
    await expect(conflictsA.sweep(bounds)).rejects.toMatchObject(refused);
    await expect(conflictsB.sweep(bounds)).resolves.toMatchObject({ more: false });
    await expect(conflictsA.reofferPending('carts', 'k1', 0)).rejects.toMatchObject(refused);
    // B's apply runs under its token
    expect(await b.apply('west', 'inc1', [packEntry(rec('k2', 2))])).toEqual(['applied']);
    // a non-coordinator's token ('none') is refused like a stale one
    tokenA = 'none';
    await expect(a.apply('west', 'inc1', [packEntry(rec('k4', 4))])).rejects.toMatchObject(refused);
  });

  it('with the one-instance token \'\' nothing is checked, lease or none', async () => {
    const store = new RegionStore(client, { region: 'east', prefix: 'cs2:', partitionOf: () => 1, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 5000 });
    await client.hset('cs2:coordinator', 'holder', 'X', 'token', '77');
    expect(await store.apply('west', 'inc1', [packEntry(rec('k1', 1))])).toEqual(['applied']);
    await store.setFence('orders', 0, 1, performance.now() + 5000);
    await store.dropFence('orders', 0);
  });

  it('a lease released at a clean stop is taken at once; a token counter lost with the data starts above every earlier token', async () => {
    const keys = new RegionStore(client, { region: 'east', prefix: 'cs3:', partitionOf: () => 1, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => 1 }).keys;
    const leases = new RedisLeaseStore(client, keys);
    const first = await leases.claim('A', 'http://a', 10_000);
    await leases.release('B'); // not the holder: nothing
    expect((await leases.claim('B', 'http://b', 10_000)).holder).toBe('A');
    await leases.release('A');
    const second = await leases.claim('B', 'http://b', 10_000);
    expect(second.holder).toBe('B');
    expect(second.token).toBeGreaterThan(first.token); // max(counter + 1, Redis's clock in µs)
    await client.del(keys.coordinator, keys.coordinatorTokens); // the data lost
    const third = await leases.claim('A', 'http://a', 10_000);
    expect(third.token).toBeGreaterThan(second.token);
  });
});
