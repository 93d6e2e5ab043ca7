/**
 * The coordinator's fencing token across a Redis that came back with older data (a Sentinel
 * failover to a replica that missed the last claim, an older snapshot, the last second of an
 * everysec AOF): the counter is one below the live coordinator's token (or gone). A takeover
 * must still hand out a token above every token handed out before: the highest of counter + 1,
 * Redis's clock in µs, and the claiming instance's highest seen token + 1
 * (lua/claimCoordinator-3.lua). Failed first with the counter seeded from the clock only when
 * missing: a and b both coordinator under one token, a's fence write accepted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { eventually, startRedis } from '../helpers/cluster.js';
import { CoordinatorElection, RedisLeaseStore } from '../../gateway/coordination/index.js';
import { RegionStore, StoreKeys } from '../../gateway/store/index.js';
import { realClock } from '../../infra/clock.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

describe('the coordinator token across a Redis rollback', () => {
  it('a takeover after Redis lost its last writes never hands out the token of a coordinator that still holds it', async () => {
    const { redis } = await startRedis();
    cleanups.push(() => redis.stop());
    const conn = () => { const c = new Redis(redis.url); cleanups.push(async () => { c.disconnect(); }); return c; };
    const keys = new StoreKeys('ct:', () => 0);
    const options = (id: string) => ({ id, url: `http://${id}`, leaseMs: 1000, renewMs: 250, driftMarginMs: 100 });
    const events = { onElected: () => {}, onDemoted: () => {} };
    const a = new CoordinatorElection(options('a'), new RedisLeaseStore(conn(), keys), realClock, events);
    cleanups.push(() => a.stop());
    a.start();
    expect(await eventually(() => a.isCoordinator(), 5000)).toBe(true);
    const tokenA = a.token();

    // the region's Redis fails over to a replica that missed a's claim (the INCR and the
    // lease it wrote): the counter is one below a's token, no lease is held
    const raw = conn();
    await raw.set(keys.coordinatorTokens, String(Number(tokenA) - 1));
    await raw.del(keys.coordinator);
    // instance b stands (it claims at once); a renews at its next tick
    const b = new CoordinatorElection(options('b'), new RedisLeaseStore(conn(), keys), realClock, events);
    cleanups.push(() => b.stop());
    b.start();
    await eventually(() => b.isCoordinator() || !a.isCoordinator(), 2000, 1);
    const both = a.isCoordinator() && b.isCoordinator();
    const tokenB = b.token();
    // a script a sends now with its token (a fence, say) passes the store's check
    const aStore = new RegionStore(conn(), { region: 'east', prefix: 'ct:', partitionOf: () => 0, logMaxEntries: 10, logMaxBytes: 1 << 20, nowMs: () => Date.now(), coordinatorToken: () => a.token() });
    const aAccepted = await aStore.setFence('orders', 0, 1, performance.now() + 500).then(() => true, () => false);
    console.log(`a: coordinator=${a.isCoordinator()} token=${tokenA}; b: coordinator=${b.isCoordinator()} token=${tokenB}; a's fence write under its token accepted: ${aAccepted}`);
    expect(both && tokenA === tokenB, 'two instances coordinate under the same token').toBe(false);
    expect(Number(tokenB)).toBeGreaterThan(Number(tokenA));
    expect(aAccepted, "a's write under its old token").toBe(false);
  });

  it('a takeover never hands out a token at or below the highest one the claiming instance has seen', async () => {
    const { redis } = await startRedis();
    cleanups.push(() => redis.stop());
    const c = new Redis(redis.url);
    cleanups.push(async () => { c.disconnect(); });
    const keys = new StoreKeys('cs:', () => 0);
    const leases = new RedisLeaseStore(c, keys);
    const first = await leases.claim('a', 'http://a', 300, 0);
    // a Redis whose clock is behind (another host) and that lost the counter: only the
    // caller's seen token keeps the next one above the old
    const seen = first.token + 1_000_000_000_000;
    await c.del(keys.coordinatorTokens, keys.coordinator);
    const second = await leases.claim('b', 'http://b', 300, seen);
    expect(second.holder).toBe('b');
    expect(second.token).toBe(seen + 1);
    // the counter follows it: the next takeover is above it without any seen token
    await c.del(keys.coordinator);
    expect((await leases.claim('a', 'http://a', 300, 0)).token).toBeGreaterThan(seen + 1);
  });
});
