/**
 * The store's rollback check (a log seq below the highest one this process saw) must judge a
 * reply by what was seen before the check was sent. Senders read the log on another
 * connection: a seq they read while the check's MGET was on its way may have been written
 * after Redis ran the MGET. Judged against that later floor, a busy store looked rolled back
 * — the data-loss handling (counter floor raised, new log incarnation, every peer repaired)
 * ran under load with no loss (seen in the container "region isolated" and heal scenarios).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegionStore } from '../../gateway/index.js';
import { RedisProcess } from '../../infra/local/redis-process.js';

describe('store identity check under concurrent log reads (real redis-server)', () => {
  let redis: RedisProcess;
  let dir: string;
  let main: Redis;
  let other: Redis;
  let store: RegionStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'geogate-idcheck-'));
    redis = await RedisProcess.start({ dir });
    main = new Redis(redis.url);
    other = new Redis(redis.url);
    store = new RegionStore(main, { region: 'east', prefix: 'ic:', partitionOf: () => 0, logMaxEntries: 100, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
    expect(await store.checkIdentity()).toBe(true);
  });
  afterAll(async () => {
    main.disconnect();
    other.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a seq seen on another connection while the check is in flight is no rollback', async () => {
    const losses: unknown[] = [];
    store.onIdentityLost((l) => losses.push(l));
    for (let i = 0; i < 20; i++) {
      const check = store.checkIdentity(); // MGET sent on the main connection
      const seq = await other.incrby(store.keys.seq, 3); // a write Redis runs after it, read by a sender
      store.noteSeqSeen(seq);
      expect(await check).toBe(true);
    }
    expect(losses).toEqual([]);
    // a real rollback is still noticed
    await other.set(store.keys.seq, '1');
    expect(await store.checkIdentity()).toBe(false);
    expect(losses).toHaveLength(1);
  });
});
