/**
 * The store's fence under a frozen Redis (real redis-server, SIGSTOP/SIGCONT): a lease
 * renewal and a write that queued behind the stall must not land after the lease's end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RegionStore, StoreError, StoreErrorCode } from '../../gateway/index.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';

const LEASE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fence with an absolute end (real redis-server, frozen)', () => {
  let redis: RedisProcess;
  let client: Redis;
  let store: RegionStore;
  beforeAll(async () => {
    ({ redis } = await startRedis());
    client = new Redis(redis.url);
    store = new RegionStore(client, { region: 'east', prefix: 'fz:', partitionOf: () => 2, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
  });
  afterAll(async () => { redis.thaw(); client.disconnect(); await redis.stop(); });

  const write = (key: string, leaseEndMonoMs?: number) => store.write({
    keyspace: 'orders', key, partition: 2, bucket: 0, value: Buffer.from(key), contentType: 'text/plain',
    tombstone: false, epoch: 7, fenced: true, leaseEndMonoMs,
  });
  const outcomeOf = (p: Promise<unknown>) => p.then(() => 'acked', (err: unknown) => err);

  it('a renewal and a write queued behind a frozen Redis cannot outlive the lease', async () => {
    await store.setFence('orders', 2, 7, performance.now() + LEASE_MS);
    await write('before');
    // the renewal is sent while the lease is still valid (it ends LEASE_MS from now at the latest);
    // the write carries no lease end of its own: the fence alone must refuse it
    redis.freeze();
    const renewal = store.setFence('orders', 2, 7, performance.now() + LEASE_MS);
    const late = outcomeOf(write('late'));
    await sleep(LEASE_MS * 2);
    redis.thaw();
    await renewal;
    const outcome = await late;
    expect(outcome).toBeInstanceOf(StoreError);
    expect((outcome as StoreError).code).toBe(StoreErrorCode.Fenced);
    expect(await store.get('orders', 'late')).toBeNull();
  });

  it('a write delayed past its own lease end is refused even while the fence still holds', async () => {
    await store.setFence('orders', 2, 7, performance.now() + 10_000);
    redis.freeze();
    const late = outcomeOf(write('delayed', performance.now() + LEASE_MS));
    await sleep(LEASE_MS * 2);
    redis.thaw();
    const outcome = await late;
    expect((outcome as StoreError).code).toBe(StoreErrorCode.Fenced);
    expect(await store.get('orders', 'delayed')).toBeNull();
    expect(await outcomeOf(write('in-time', performance.now() + LEASE_MS))).toBe('acked');
  });

  it('a fence whose end has passed refuses the write and is removed by it (no expiry of its own)', async () => {
    await store.setFence('orders', 2, 7, performance.now() + 150);
    const key = store.keys.fence('orders', 2);
    expect(await client.pttl(key), 'the fence has no expiry').toBe(-1);
    await sleep(200);
    expect(await client.exists(key)).toBe(1);
    expect(((await outcomeOf(write('after-end', performance.now() + 10_000))) as StoreError).code).toBe(StoreErrorCode.Fenced);
    expect(await client.exists(key), 'the ended fence is gone: a clock stepped back cannot make it hold again').toBe(0);
  });

  it('a batch of fences on a store that has not sampled Redis\'s clock yet takes one TIME, not one per fence', async () => {
    const fresh = new RegionStore(client, { region: 'east', prefix: 'fz-batch:', partitionOf: () => 0, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    await client.config('RESETSTAT');
    const end = performance.now() + 10_000;
    await Promise.all(Array.from({ length: 1000 }, (_, p) => fresh.setFence('orders', p, 1, end)));
    const time = /^cmdstat_time:calls=(\d+)/m.exec(await client.info('commandstats'));
    expect(Number(time?.[1] ?? 0), 'TIME calls for 1000 fences').toBeLessThanOrEqual(2);
    expect(await client.get(fresh.keys.fence('orders', 999))).toMatch(/^1:\d+$/);
  });

  it('a dropped fence refuses every write of the epoch', async () => {
    await store.setFence('orders', 2, 7, performance.now() + 10_000);
    await store.dropFence('orders', 2);
    expect(((await outcomeOf(write('after-drop', performance.now() + LEASE_MS))) as StoreError).code).toBe(StoreErrorCode.Fenced);
  });
});
