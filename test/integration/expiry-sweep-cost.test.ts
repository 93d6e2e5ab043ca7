/**
 * Expiry (issue 13 item 4): the sweep read every partition's expiry index each round (one
 * ZRANGEBYSCORE per partition, awaited one after another, on the main connection), even on a
 * region where no key ever had an expiry: with a 4096-partition keyspace 2731 reads a second
 * on an idle region. A round now reads at most `expiry.sweepPartitionsMax` partitions (64 by
 * default), sent together (docs/expiry.md, "Bounds").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRegion } from '../helpers/cluster.js';

type Region = Awaited<ReturnType<typeof startRegion>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function zrangeCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  return Number(/cmdstat_zrangebyscore:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('expiry: the sweep on a region with 4096 partitions', () => {
  describe('idle, the sweep on its default interval', () => {
    let region: Region;
    let client: Redis;
    beforeAll(async () => {
      region = await startRegion('east', ['east'], {
        keyspaces: [{ name: 'carts', partitions: 4096, onSplit: 'diverge', writes: 'multi-master' }],
      });
      client = new Redis(region.redis.url);
    });
    afterAll(async () => { client.disconnect(); await region.stop(); });

    it('reads at most sweepPartitionsMax (64) expiry indexes a second, not every partition\'s', async () => {
      await sleep(1500);
      const before = await zrangeCalls(client);
      await sleep(3000);
      const perSecond = ((await zrangeCalls(client)) - before) / 3;
      console.log(`ZRANGEBYSCORE per second on an idle region (no key with an expiry): ${perSecond.toFixed(0)}`);
      expect(perSecond).toBeLessThanOrEqual(64 * 1.5); // one round a second, give or take a late timer
    });
  });

  describe('the sweep driven by the test', () => {
    let region: Region;
    let client: Redis;
    beforeAll(async () => {
      region = await startRegion('east', ['east'], {
        keyspaces: [{ name: 'carts', partitions: 4096, onSplit: 'diverge', writes: 'multi-master' }],
        expiry: { sweepIntervalMs: 3_600_000, sweepPartitionsMax: 64 },
      });
      client = new Redis(region.redis.url);
    });
    afterAll(async () => { client.disconnect(); await region.stop(); });

    it('tombstones an expired record of any partition within partitions / sweepPartitionsMax rounds, 64 index reads each', async () => {
      const g = region.gateway;
      const keys = ['k-a', 'k-b', 'k-c'];
      let expiresAt = 0;
      for (const key of keys) {
        const r = await fetch(`${g.url}/v1/kv/carts/${key}?ttl=1`, { method: 'PUT', body: key });
        expect(r.status).toBe(201);
        expiresAt = Math.max(expiresAt, Number(r.headers.get('x-geogate-expires-at')));
      }
      while (Date.now() <= expiresAt + 10) await sleep(20);
      const before = await zrangeCalls(client);
      let tombstoned = 0;
      let rounds = 0;
      while (tombstoned < keys.length && rounds < 4096 / 64) {
        tombstoned += (await g.expirySweeper.sweepOnce()).tombstoned;
        rounds++;
      }
      expect(tombstoned).toBe(keys.length);
      expect((await zrangeCalls(client)) - before).toBeLessThanOrEqual(64 * rounds);
      for (const key of keys) expect((await g.store.get('carts', key))?.tombstone).toBe(true);
    });
  });
});
