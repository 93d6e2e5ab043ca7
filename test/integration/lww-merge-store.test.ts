/**
 * lww after a split, on the real store (apply script, resolve script, conflict worker) in
 * real redis-server: for random histories of concurrent writes and deletes in 2–3 regions and random
 * orders of delivery (log batches, anti-entropy pulls, duplicates) and of resolution, every
 * region ends on the write with the highest stamp (compareLww: HLC, then origin).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ConflictStore, RegionStore, parseGatewayConfig } from '../../gateway/index.js';
import { ConflictWorker } from '../../gateway/merge/conflict-worker.js';
import { compareLww, type RecordVersion } from '../../conflict/index.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';
import { startRedis } from '../helpers/cluster.js';
import type { RedisProcess } from '../../infra/local/redis-process.js';

const NAMES = ['east', 'west', 'north'];
const KS = 'carts';

interface Region { name: string; wallMs: number; store: RegionStore; conflicts: ConflictStore; worker?: ConflictWorker }

let redis: RedisProcess;
let client: Redis;
let run = 0;
beforeAll(async () => { ({ redis } = await startRedis()); client = new Redis(redis.url); });
afterAll(async () => { client.disconnect(); await redis.stop(); });

function makeRegions(n: number, active: number): Region[] {
  run++;
  const config = parseGatewayConfig({
    region: 'east', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
    cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: NAMES.slice(0, n) },
    keyspaces: [{ name: KS, partitions: 1, onSplit: 'diverge', writes: 'multi-master' }],
  }, 't');
  return NAMES.slice(0, n).map((name, i) => {
    const region: Region = { name, wallMs: 1000, store: undefined as unknown as RegionStore, conflicts: undefined as unknown as ConflictStore };
    const opts = { region: name, prefix: `lw${run}${name}:`, partitionOf: () => 0, logMaxEntries: 10_000, logMaxBytes: 1 << 24, nowMs: () => region.wallMs };
    region.store = new RegionStore(client, opts);
    region.conflicts = new ConflictStore(client, region.store.keys, { ...opts, journalMaxEntries: 10_000 });
    if (i === active) {
      region.worker = new ConflictWorker({ valueBytesMax: 1 << 20,
        region: name, store: region.store, conflicts: region.conflicts, keyspaces: new Map([[KS, config.keyspaces[0]!]]),
        clock: realClock, log: silentLogger(), registry: new Registry(), onLocalWrite: () => {},
        authority: { check: () => ({ kind: 'local', epoch: 0, fenced: false }), activeRegion: () => name, partitionState: () => 'active', mayResolve: () => true },
      });
    }
    return region;
  });
}

const put = (r: Region, value: string, tombstone = false) =>
  r.store.write({ keyspace: KS, key: 'k', partition: 0, bucket: 0, value: Buffer.from(tombstone ? '' : value), contentType: 'text/plain', tombstone, epoch: 0, fenced: false });

const planArb = fc.record({
  regions: fc.integer({ min: 2, max: 3 }),
  active: fc.nat(2),
  writes: fc.array(fc.record({ region: fc.nat(2), stepMs: fc.integer({ min: 0, max: 3 }), del: fc.boolean() }), { minLength: 1, maxLength: 10 }),
  steps: fc.array(fc.record({ kind: fc.constantFrom('log', 'log', 'pull', 'resolve'), link: fc.nat(5), count: fc.integer({ min: 1, max: 3 }) }), { maxLength: 25 }),
});

describe('lww after a split on the real store: the highest stamp wins in every region', () => {
  it('random histories, random delivery and resolution orders', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, async ({ regions: n, active, writes, steps }) => {
        const regions = makeRegions(n, active % n);
        const resolver = regions[active % n]!;
        // a shared base before the split, everywhere
        const base = await put(regions[0]!, 'base');
        const baseRec = (await regions[0]!.store.get(KS, 'k'))!;
        for (const r of regions.slice(1)) await r.store.apply(regions[0]!.name, await regions[0]!.store.incarnation(), await regions[0]!.store.readLog(0, 10, 1 << 20));
        const cursors = new Map<string, number>(regions.flatMap((a) => regions.filter((b) => b !== a).map((b) => [`${a.name}>${b.name}`, a === regions[0] ? base.seq : 0] as const)));
        // the split: each region writes on its own; wall clocks move forward and may tie
        const written: RecordVersion[] = [];
        for (const [i, w] of writes.entries()) {
          const r = regions[w.region % n]!;
          r.wallMs = Math.max(r.wallMs, 1000 + i * 2 + w.stepMs);
          const live = !(await r.store.get(KS, 'k'))!.tombstone;
          await put(r, `${r.name}-${i}`, w.del && live); // a delete of a deleted key is a 404, not a write
          written.push((await r.store.get(KS, 'k'))!);
        }
        const links = [...cursors.keys()];
        const deliver = async (link: string, count: number) => {
          const [from, to] = link.split('>').map((name) => regions.find((r) => r.name === name)!) as [Region, Region];
          const after = cursors.get(link)!;
          const entries = await from.store.readLog(after, count, 1 << 24);
          if (entries.length === 0) return false;
          await to.store.apply(from.name, await from.store.incarnation(), entries);
          cursors.set(link, entries.at(-1)!.seq);
          return true;
        };
        for (const s of steps) {
          const link = links[s.link % links.length]!;
          if (s.kind === 'log') await deliver(link, s.count);
          else if (s.kind === 'resolve') await resolver.worker!.drainOnce();
          else {
            // an anti-entropy pull of the source's current version (any order, maybe a duplicate)
            const [from, to] = link.split('>').map((name) => regions.find((r) => r.name === name)!) as [Region, Region];
            const rec = await from.store.get(KS, 'k');
            if (rec) await to.store.applyVersions([{ seq: 0, keyspace: KS, key: 'k', partition: 0, bucket: 0, record: rec }]);
          }
        }
        // heal completely: ship everything, resolve, until nothing moves
        for (let round = 0; round < 50; round++) {
          let moved = false;
          for (const link of links) while (await deliver(link, 3)) moved = true;
          if ((await resolver.worker!.drainOnce()) > 0) moved = true;
          if (!moved) break;
        }
        const best = [baseRec, ...written].reduce((a, b) => (compareLww(a, b) >= 0 ? a : b));
        const bestValue = best.tombstone ? '(deleted)' : Buffer.from(best.value).toString();
        for (const r of regions) {
          const rec = (await r.store.get(KS, 'k'))!;
          expect(`${r.name}: ${rec.tombstone ? '(deleted)' : Buffer.from(rec.value).toString()}`).toBe(`${r.name}: ${bestValue}`);
          expect(await r.conflicts.pendingCount()).toBe(0);
        }
      }),
      { numRuns: 60 },
    );
  });
});
