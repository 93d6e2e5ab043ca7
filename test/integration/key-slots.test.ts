/**
 * The key layout against a real 3-master Redis Cluster (gateway/store/keys.ts, script-keys.ts):
 * for every store script, the KEYS its callers pass (built by the same functions the stores
 * use) hash to one slot (`CLUSTER KEYSLOT`): the partition's, for every partition and every
 * shape of user key, except the region-wide keys that are still on the write path and are
 * named in PER_WRITE_REGION_WIDE (they move per partition with the per-partition log). The
 * scripts that touch one partition only run on the cluster as they are (no CROSSSLOT, no key
 * built inside Lua). And a store of the layout before the hash tags is refused at boot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { RedisClusterProcesses } from '../../infra/local/redis-cluster.js';
import { COORDINATION_REGION_WIDE, PER_WRITE_REGION_WIDE, StoreKeys } from '../../gateway/store/keys.js';
import { defineScripts, scripts } from '../../gateway/store/scripts.js';
import {
  applyChangesCall, callGroups, collectTombstonesCall, putRecordKeys, readMembersItems, readRecordsItems, reofferPendingKeys,
  resolveConflictKeys, trimConflictsKeys, trimLogKeys,
} from '../../gateway/store/script-keys.js';
import { packEntry, packIdempotentEntry } from '../../replicator/packed.js';
import { PartitionMap } from '../../gateway/partition-map.js';
import { StoreLayoutError } from '../../gateway/store/errors.js';
import { baseConfig, startRedis } from '../helpers/cluster.js';
import { parseGatewayConfig, startGateway } from '../../gateway/index.js';
import { freePort } from '../../infra/local/ports.js';
import { silentLogger } from '../../infra/log.js';

const PARTITIONS = 4096;
const config = parseGatewayConfig({
  region: 'east', listen: { port: 1 }, publicUrl: 'http://x:1', redis: { url: 'redis://x' },
  cluster: { id: 'c', secret: 'a-secret-of-16-chars', regions: ['east'] },
  keyspaces: [{ name: 'orders', partitions: PARTITIONS, onSplit: 'diverge', writes: 'multi-master' }],
}, 'key-slots');
const map = new PartitionMap(config.keyspaces[0]!, ['east'], 1024);
/** User keys of every shape: plain, unicode, with braces (a hash tag of their own must not count), with the tag's own characters. */
const USER_KEYS = ['k', 'ünïcødé-ключ', 'a{b}c', '{x}', '}{', 'orders.7', 'x'.repeat(300)];

let dir: string;
let cluster: RedisClusterProcesses;
let node: Redis;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-key-slots-'));
  cluster = await RedisClusterProcesses.start({ dir, masters: 3 });
  node = new Redis({ host: '127.0.0.1', port: cluster.nodes[0]!.port });
});

afterAll(async () => {
  node?.disconnect();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const slotOf = async (key: string): Promise<number> => Number(await node.call('CLUSTER', 'KEYSLOT', key));

/** Every key of a call: the region-wide ones by name, the others each in the partition's slot. */
async function checkCall(k: StoreKeys, partition: number, ks: string, fixed: Record<string, string>, items: readonly string[] = []) {
  const want = await slotOf(k.tag(ks, partition));
  const regionWide = [...PER_WRITE_REGION_WIDE, ...COORDINATION_REGION_WIDE] as readonly string[];
  const outside: string[] = [];
  for (const [name, key] of Object.entries(fixed)) {
    // a region-wide key has no hash tag (putRecord's idempotency is the record itself without an Idempotency-Key)
    if (regionWide.includes(name) && !key.includes('{')) {
      outside.push(name);
      continue;
    }
    expect(await slotOf(key), `${name} = ${key}`).toBe(want);
  }
  for (const key of items) expect(await slotOf(key), key).toBe(want);
  return outside;
}

describe('key layout: every script call in one Redis Cluster slot (3 masters, CLUSTER KEYSLOT)', () => {
  it('every script, every key builder, every partition shape and user key', async () => {
    const covered = new Set<string>();
    const outsideBy = new Map<string, Set<string>>();
    const note = (script: string, outside: string[]) => {
      covered.add(script);
      const s = outsideBy.get(script) ?? new Set<string>();
      for (const o of outside) s.add(o);
      outsideBy.set(script, s);
    };
    const partitionsSeen = new Set<number>();
    for (const userKey of USER_KEYS) {
      const { partition: p, bucket } = map.place(userKey);
      partitionsSeen.add(p);
      const k = new StoreKeys('gg:', () => p);
      note('putRecord', await checkCall(k, p, 'orders', putRecordKeys(k, 'orders', p, bucket, userKey)));
      note('putRecord', await checkCall(k, p, 'orders', putRecordKeys(k, 'orders', p, bucket, userKey, 'idem-1')));
      note('resolveConflict', await checkCall(k, p, 'orders', resolveConflictKeys(k, 'orders', p, bucket, userKey)));
      note('reofferPending', await checkCall(k, p, 'orders', reofferPendingKeys(k, 'orders', p, userKey)));
      const rec = (key: string, b: number) => ({ seq: 1, keyspace: 'orders', key, partition: p, bucket: b,
        record: { value: Buffer.from('v'), contentType: 'text/plain', vv: { west: 1 }, hlc: [1, 0] as const, origin: 'west', epoch: 0, tombstone: false } });
      // grouped per slot (a Redis Cluster owns slots apart): each call's keys in one slot
      const calls = callGroups([
        { keyspace: 'orders', partition: p, entries: [packEntry(rec(userKey, bucket)), packEntry(rec(`${userKey}-2`, (bucket + 1) % 1024)),
          packIdempotentEntry(rec(`${userKey}-3`, bucket), { key: 'idem-2', fingerprint: 'a'.repeat(64), created: true })] },
      ], 'per-slot');
      expect(calls.length).toBe(1);
      const apply = applyChangesCall(k, calls[0]!);
      expect(apply.items.length).toBe(5 + 12);
      // the last item key is the change's remembered outcome: region-wide (like putRecord's)
      expect(apply.items[16]).toBe(k.idempotency('idem-2'));
      note('applyChanges', [...await checkCall(k, p, 'orders', apply.keys, apply.items.slice(0, 16)), 'idempotency']);
      const tombCalls = callGroups([{ partition: p, items: [[userKey, p, bucket, 'west:1'], [`${userKey}-2`, p, 3, 'west:2']] as const }], 'per-slot');
      const tomb = collectTombstonesCall(k, 'orders', tombCalls[0]!);
      note('collectTombstones', await checkCall(k, p, 'orders', {}, tomb.items));
      note('readMembers', await checkCall(k, p, 'orders', {}, readMembersItems(k, 'orders', p, [0, bucket, 1023])));
      note('readRecords', await checkCall(k, p, 'orders', {}, readRecordsItems(k, 'orders', p, [userKey, `${userKey}-2`])));
      // the fences of a batch grouped per slot (store/fence-writer.ts): one call per partition
      // on a cluster, its fence in the partition's slot beside the region's lease
      const fenceCalls = callGroups([{ key: k.fence('orders', p), partition: p }], 'per-slot');
      expect(fenceCalls.length).toBe(1);
      note('setFences', await checkCall(k, p, 'orders', { coordinator: k.coordinator }, fenceCalls[0]!.map((c) => c.key)));
      // the pending hash read outside scripts
      expect(await slotOf(k.pending('orders', userKey))).toBe(await slotOf(k.tag('orders', p)));
    }
    // the extreme partitions too
    for (const p of [0, 1, PARTITIONS - 1]) {
      const k = new StoreKeys('gg:', () => p);
      note('putRecord', await checkCall(k, p, 'orders', putRecordKeys(k, 'orders', p, 0, 'edge')));
    }
    expect(partitionsSeen.size).toBeGreaterThan(3);
    // a batch over several partitions grouped per slot: one call per partition, each in its slot
    {
      const k = new StoreKeys('gg:', () => 0);
      const change = (p: number) => packEntry({ seq: 1, keyspace: 'orders', key: `g${p}`, partition: p, bucket: 5,
        record: { value: Buffer.from('v'), contentType: 'text/plain', vv: { west: 1 }, hlc: [1, 0] as const, origin: 'west', epoch: 0, tombstone: false } });
      const parts = [...partitionsSeen].map((p) => ({ keyspace: 'orders', partition: p, entries: [change(p)] }));
      const calls = callGroups(parts, 'per-slot');
      expect(calls.length).toBe(parts.length);
      for (const call of calls) {
        const apply = applyChangesCall(k, call);
        note('applyChanges', await checkCall(k, call[0]!.partition, 'orders', apply.keys, apply.items));
      }
      // grouped for one node they are one call, over several slots
      expect(callGroups(parts, 'single-node')).toEqual([parts]);
      const one = applyChangesCall(k, parts);
      expect(new Set(await Promise.all(one.items.map(slotOf))).size).toBe(parts.length);
    }
    // region-wide scripts: no partition at all
    const k = new StoreKeys('gg:', () => 0);
    note('trimLog', Object.keys(trimLogKeys(k)));
    note('trimConflicts', Object.keys(trimConflictsKeys(k)));
    note('raiseApplied', ['applied']);
    // the coordinator's: region-wide (its lease, tokens, instances, board); a fence written
    // under the token pairs the partition's fence with the region's lease (design-notes)
    note('claimCoordinator', ['lease', 'tokens', 'instances']);
    note('publishBoard', ['board', 'boardParts', 'boardChanges', 'coordinator']);
    note('readBoard', ['board', 'boardParts', 'boardChanges', 'incarnation']);
    note('withdrawBoard', ['board', 'boardParts', 'boardChanges', 'coordinator']);
    note('coordinatorWrite', ['coordinator']);
    for (const name of ['trimLog', 'trimConflicts', 'raiseApplied', 'claimCoordinator', 'publishBoard', 'readBoard', 'withdrawBoard', 'coordinatorWrite', 'setFences']) {
      for (const o of outsideBy.get(name)!) expect([...PER_WRITE_REGION_WIDE, ...COORDINATION_REGION_WIDE] as readonly string[]).toContain(o);
    }
    expect([...covered].sort()).toEqual(Object.keys(scripts).sort());
    // what stays region-wide on the write, apply and resolution paths (stage 2 of the layout moves these)
    expect([...outsideBy.get('putRecord')!].sort()).toEqual(['identity', 'idempotency', 'idempotencyIndex', 'log', 'logBytes', 'seq'].sort());
    expect([...outsideBy.get('applyChanges')!].sort()).toEqual(['applied', 'coordinator', 'idempotency', 'idempotencyIndex', 'idempotencyUnremembered', 'pendingIndex'].sort());
    expect([...outsideBy.get('resolveConflict')!].sort()).toEqual(['coordinator', 'journal', 'journalAcked', 'journalBytes', 'log', 'logBytes', 'outbox', 'pendingIndex', 'seq'].sort());
    for (const name of ['collectTombstones', 'readMembers', 'readRecords']) expect([...outsideBy.get(name)!], name).toEqual([]);
  });

  it('the scripts of one partition run on the cluster as they are: every key they touch is in KEYS, in one slot', async () => {
    const client = new Cluster(cluster.addresses.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })), { enableOfflineQueue: true });
    try {
      defineScripts(client as unknown as Redis);
      const c = client as unknown as Redis;
      for (const userKey of USER_KEYS) {
        const { partition: p, bucket } = map.place(userKey);
        const k = new StoreKeys('ks:', () => p);
        await client.hset(k.recordIn('orders', p, userKey), 'v', 'x', 'vv', 'west:1', 't', '1', 'b', String(bucket));
        await client.hset(k.members('orders', p, bucket), userKey, 'west:1');
        const rows = (await scripts.readRecords.call(c, {}, { fieldCount: 2 }, ['v', 'vv'], readRecordsItems(k, 'orders', p, [userKey, 'absent']))) as (string | null)[];
        expect(rows).toEqual(['x', 'west:1', null, null]);
        const members = (await scripts.readMembers.call(c, {}, { entriesMax: 10 }, [], readMembersItems(k, 'orders', p, [bucket]))) as unknown[];
        expect(members).toEqual([1, 1, userKey, 'west:1']);
        const [group] = callGroups([{ partition: p, items: [[userKey, p, bucket, 'west:1']] as const }], 'per-slot');
        const tomb = collectTombstonesCall(k, 'orders', group!);
        expect(await scripts.collectTombstones.call(c, {}, { groupCount: tomb.groupCount }, tomb.rest, tomb.items)).toEqual([0]);
        expect(await client.exists(k.recordIn('orders', p, userKey))).toBe(0);
      }
      // a script given keys of two partitions is refused by the cluster itself: the test can fail
      const k0 = new StoreKeys('ks:', () => 0);
      const twoPartitions = [{ partition: 0, items: [['a', 0, 1, 'west:1']] as const }, { partition: 1, items: [['b', 1, 1, 'west:1']] as const }];
      for (const group of callGroups(twoPartitions, 'per-slot')) {
        const tomb = collectTombstonesCall(k0, 'orders', group);
        expect(await scripts.collectTombstones.call(c, {}, { groupCount: tomb.groupCount }, tomb.rest, tomb.items)).toEqual([1]);
      }
      const oneCall = collectTombstonesCall(k0, 'orders', callGroups(twoPartitions, 'single-node')[0]!);
      await expect(scripts.collectTombstones.call(c, {}, { groupCount: oneCall.groupCount }, oneCall.rest, oneCall.items)).rejects.toThrow(/CROSSSLOT|same slot/i);
      expect(await slotOf(k0.tag('orders', 0))).not.toBe(await slotOf(k0.tag('orders', 1)));
      await expect(scripts.readRecords.call(c, {}, { fieldCount: 1 }, ['v'], [k0.recordIn('orders', 0, 'a'), k0.recordIn('orders', 1, 'b')]))
        .rejects.toThrow(/CROSSSLOT|same slot/i);
    } finally {
      client.disconnect();
    }
  });
});

describe('a store of another key layout', () => {
  it('is refused at boot with a clear error (the layout before the hash tags: an identity and no layout key)', async () => {
    const { redis, dir: rdir } = await startRedis();
    const raw = new Redis(redis.url);
    try {
      const config = baseConfig('east', ['east'], redis.url, await freePort());
      const prefix = config.redis.keyPrefix;
      await raw.set(`${prefix}store-id`, 'an-old-gateway');
      await raw.hset(`${prefix}r:orders:k`, 'v', 'old');
      await expect(startGateway(config, { log: silentLogger() })).rejects.toThrow(StoreLayoutError);
      await expect(startGateway(config, { log: silentLogger() })).rejects.toThrow(/key layout before partition hash tags.*empty that Redis/);
      // an empty store takes the layout and starts
      await raw.flushall();
      const gw = await startGateway(config, { log: silentLogger() });
      try {
        expect(await raw.get(`${prefix}layout`)).toBe('partition-tag-1');
      } finally {
        await gw.close();
      }
    } finally {
      raw.disconnect();
      await redis.stop();
      rmSync(rdir, { recursive: true, force: true });
    }
  });
});
