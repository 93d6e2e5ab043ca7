/**
 * Expiry (issue 13 item 4): the sweep read every partition's expiry index each round (one
 * ZRANGEBYSCORE per partition, awaited one after another, on the main connection), even on a
 * region where no key ever had an expiry: with a 4096-partition keyspace 2731 reads a second
 * on an idle region. A round now reads at most `expiry.sweepPartitionsMax` partitions, in one
 * pipeline (docs/expiry.md, "Bounds").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRegion } from '../helpers/cluster.js';

type Region = Awaited<ReturnType<typeof startRegion>>;
let region: Region;
let client: Redis;

async function zrangeCalls(): Promise<number> {
  const info = await client.info('commandstats');
  return Number(/cmdstat_zrangebyscore:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('expiry: the sweep on an idle region', () => {
  beforeAll(async () => {
    region = await startRegion('east', ['east'], {
      keyspaces: [{ name: 'carts', partitions: 4096, onSplit: 'diverge', writes: 'multi-master' }],
    });
    client = new Redis(region.redis.url);
  });
  afterAll(async () => { client.disconnect(); await region.stop(); });

  it('an idle region with no expiring key does not read thousands of expiry indexes per second', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const before = await zrangeCalls();
    await new Promise((r) => setTimeout(r, 3000));
    const perSecond = ((await zrangeCalls()) - before) / 3;
    console.log(`ZRANGEBYSCORE per second on an idle region (no key with an expiry): ${perSecond.toFixed(0)}`);
    expect(perSecond).toBeLessThan(100);
  });
});
