/**
 * Expiry on the real store (write, apply, resolve scripts and the conflict worker in a real
 * redis-server): an expiry tombstone keeps its mark (the version it expired) through a
 * resolution that keeps it, so a refresh of the expired version that reaches the resolving
 * region only after that resolution still wins (conflict/expired.ts). Without the mark in the
 * stored resolution (resolveConflict-17.lua blanked every tombstone's value) the refresh lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ConflictStore, RegionStore, parseGatewayConfig } from '../../gateway/index.js';
import { ConflictWorker } from '../../gateway/merge/conflict-worker.js';
import { expiredVersionOf, vvFromString } from '../../conflict/index.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';

const KS = 'carts';
interface Region { name: string; wallMs: number; store: RegionStore; conflicts: ConflictStore }

let redis: RedisProcess;
let client: Redis;
beforeAll(async () => { ({ redis } = await startRedis()); client = new Redis(redis.url); });
afterAll(async () => { client.disconnect(); await redis.stop(); });

function region(name: string): Region {
  const r: Region = { name, wallMs: 1000, store: undefined as unknown as RegionStore, conflicts: undefined as unknown as ConflictStore };
  const opts = { region: name, prefix: `xt${name}:`, partitionOf: () => 0, logMaxEntries: 10_000, logMaxBytes: 1 << 24, nowMs: () => r.wallMs };
  r.store = new RegionStore(client, opts);
  r.conflicts = new ConflictStore(client, r.store.keys, { ...opts, journalMaxEntries: 10_000 });
  return r;
}

const put = (r: Region, value: string, more: { ttlMs?: number; op?: 'sweep'; ifMatch?: string; tombstone?: boolean } = {}) =>
  r.store.write({ keyspace: KS, key: 'k', partition: 0, bucket: 0, value: Buffer.from(value), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false, ...more });

/** Ships `from`'s log after `after` to `to`; returns the last seq shipped. */
async function ship(from: Region, to: Region, after: number): Promise<number> {
  const entries = await from.store.readLog(after, 100, 1 << 24);
  if (entries.length > 0) await to.store.apply(from.name, await from.store.incarnation(), entries);
  return entries.at(-1)?.seq ?? after;
}

describe('expiry tombstone on the real store', () => {
  it('a resolution that keeps the tombstone keeps its mark; a later refresh of the expired version wins against it', async () => {
    const config = parseGatewayConfig({
      region: 'east', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
      cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: ['east', 'west', 'north'] },
      keyspaces: [{ name: KS, partitions: 1, onSplit: 'diverge', writes: 'multi-master' }],
    }, 't');
    const [east, west, north] = [region('east'), region('west'), region('north')] as [Region, Region, Region];
    const worker = new ConflictWorker({ valueBytesMax: 1 << 20,
      region: 'east', store: east.store, conflicts: east.conflicts, keyspaces: new Map([[KS, config.keyspaces[0]!]]),
      clock: realClock, log: silentLogger(), registry: new Registry(), onLocalWrite: () => {},
      authority: { check: () => ({ kind: 'local', epoch: 0, fenced: false }), activeRegion: () => 'east', partitionState: () => 'active', mayResolve: () => true },
    });

    // east writes k, expiring at 2000; west receives it
    const expiring = await put(east, 'east', { ttlMs: 1000 });
    let eastShipped = await ship(east, west, 0);
    // north writes k on its own (it never saw east's version), at 1500
    north.wallMs = 1500;
    await put(north, 'north');
    // west refreshes k at 1900, before the expiry: it dominates the expiring version
    west.wallMs = 1900;
    await put(west, 'refreshed');
    // east, which saw neither, sweeps at 2100: the tombstone's stamp is the expiry's, 2000.0
    east.wallMs = 2100;
    await put(east, '', { op: 'sweep', ifMatch: expiring.version, tombstone: true });

    // north's blind write arrives first: the tombstone wins it (a later stamp), the resolution keeps the mark
    await ship(north, east, 0);
    expect(await worker.drainOnce()).toBeGreaterThan(0);
    const kept = (await east.store.get(KS, 'k'))!;
    expect(kept.tombstone).toBe(true);
    expect(expiredVersionOf(kept)).toEqual(vvFromString(expiring.version));

    // then west's refresh: it dominates the version the tombstone expired, so it wins
    await ship(west, east, 0);
    await worker.drainOnce();
    const rec = (await east.store.get(KS, 'k'))!;
    expect(rec.tombstone).toBe(false);
    expect(Buffer.from(rec.value).toString()).toBe('refreshed');
    eastShipped = await ship(east, west, eastShipped);
    expect(Buffer.from((await west.store.get(KS, 'k'))!.value).toString()).toBe('refreshed');
  });
});
