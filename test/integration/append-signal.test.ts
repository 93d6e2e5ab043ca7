/**
 * The append messages of the instances that are not the coordinator (coordination/append-signal.ts)
 * on a real redis-server: a publisher on a store connection, the coordinator's head watch on a
 * subscriber connection of its own (the store's connection factory), its poll slowed far past
 * the test so only messages can wake it: a write's message reaches it; after the subscriber's
 * connection is killed it subscribes again and the next message reaches it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/cluster.js';
import { createStoreConnection } from '../../gateway/store/connection.js';
import { AppendPublisher, LogHeadWatch, appendChannel } from '../../gateway/coordination/append-signal.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

async function until(what: string, ok: () => boolean, ms = 5000): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return Date.now() - t0;
}

describe('append messages (real redis-server)', () => {
  it('a write\'s message wakes the coordinator\'s watch; its subscriber reconnects and subscribes again', async () => {
    const { redis } = await startRedis();
    cleanups.push(() => redis.stop());
    const cfg = { url: redis.url, keyPrefix: 'a:', commandTimeoutMs: 2000 };
    const writer = createStoreConnection(cfg, silentLogger());
    const raw = new Redis(redis.url);
    cleanups.push(async () => { writer.disconnect(); raw.disconnect(); });
    await raw.set('a:seq', '3');
    await raw.set('a:incarnation', 'i1');
    const heads: number[] = [];
    const subscriber = createStoreConnection(cfg, silentLogger());
    const watch = new LogHeadWatch({
      store: { logHeadAndIncarnation: async () => { const [s, i] = await raw.mget('a:seq', 'a:incarnation'); return { head: Number(s ?? 0), incarnation: i ?? null }; } },
      shipping: () => 'i1', clock: realClock, log: silentLogger(), onHead: (s) => heads.push(s), onRenewedElsewhere: () => {},
      subscriber, channel: appendChannel('a:'), pollMs: 600_000,
    });
    watch.start();
    cleanups.push(async () => watch.stop());
    await until('subscribed', () => subscriber.status === 'ready');
    for (let i = 0; i < 100 && Number((await raw.pubsub('NUMSUB', appendChannel('a:')))[1]) !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    const pub = new AppendPublisher(writer, appendChannel('a:'), realClock, () => 'i1', silentLogger());
    await raw.set('a:seq', '4');
    pub.appended(4);
    const ms = await until('the message of seq 4', () => heads.includes(4));
    expect(ms).toBeLessThan(1000);

    // the subscriber's connection dies: it reconnects and subscribes again
    await raw.client('KILL', 'TYPE', 'pubsub');
    for (let i = 0; i < 300 && Number((await raw.pubsub('NUMSUB', appendChannel('a:')))[1]) !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(Number((await raw.pubsub('NUMSUB', appendChannel('a:')))[1])).toBe(1);
    await raw.set('a:seq', '5');
    pub.appended(5);
    await until('the message of seq 5', () => heads.includes(5));

  }, 20_000);
});
