/**
 * The store's seq floor (the highest log seq this process saw handed out) for the two scripts
 * other than the write that append to the region's log: the conflict resolution
 * (resolveConflict-17.lua) and the pending re-offer (reofferPending-5.lua). A real
 * redis-server rolled back under the running store by `DEBUG RELOAD NOSAVE` of an older RDB
 * (same identity, shorter log: what a failover to a replica that missed writes leaves, no
 * reconnect and no identity-check tick in between): an append there would hand out seqs the
 * peers already hold with other content. Each script must refuse (StoreReset, nothing
 * appended) and the loss be reported as the write's is (RegionStore.onIdentityLost with the
 * seqs lost: the gateway renews the log incarnation and counts them); once reported, the
 * append goes on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictStore, RegionStore } from '../../gateway/index.js';
import type { StoreLoss } from '../../gateway/store/region-store.js';
import { StoreErrorCode } from '../../gateway/store/errors.js';
import { RedisProcess } from '../../infra/local/redis-process.js';

let redis: RedisProcess;
let dir: string;
let client: Redis;
let n = 0;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geogate-seqfloor-'));
  redis = await RedisProcess.start({ dir, appendOnly: false, extraArgs: ['--enable-debug-command', 'yes'] });
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A store and its conflict store on one connection, wired as the gateway wires them (gateway.ts openStores). */
async function setup() {
  const prefix = `sf${++n}:`;
  const store = new RegionStore(client, { region: 'east', prefix, partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
  const conflicts = new ConflictStore(client, store.keys, {
    region: 'east', logMaxEntries: 1000, logMaxBytes: 1 << 20, journalMaxEntries: 100, nowMs: () => Date.now(), seqFloor: store,
  });
  const losses: StoreLoss[] = [];
  store.onIdentityLost((l) => losses.push(l));
  expect(await store.checkIdentity()).toBe(true);
  const put = async (key: string) => (await store.write({
    keyspace: 'carts', key, partition: 0, bucket: 0, value: Buffer.from(key), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false,
  })).seq;
  /** east wrote `key`, west's concurrent version of it arrives and is kept pending. */
  const conflict = async (key: string) => {
    await put(key);
    const incoming = { seq: 0, keyspace: 'carts', key, partition: 0, bucket: 0,
      record: { value: Buffer.from(`${key}-west`), contentType: 'text/plain', vv: { west: 1 }, hlc: [Date.now() + 60_000, 0] as const, origin: 'west', epoch: 0, tombstone: false } };
    expect(await store.applyVersions([incoming])).toEqual(['conflict']);
  };
  const seq = async () => Number(await client.get(store.keys.seq));
  const logSeqs = async () => (await client.xrange(store.keys.log, '-', '+')).map(([id]) => Number(id.split('-')[0]));
  return { store, conflicts, losses, put, conflict, seq, logSeqs };
}

/** Redis goes back to the RDB `SAVE` wrote: same process, same connections, older data. */
async function rollBackToSave(): Promise<void> {
  await client.call('DEBUG', 'RELOAD', 'NOSAVE');
}

const settle = () => new Promise((r) => setTimeout(r, 50)); // the check the refusal starts answers

describe('the seq floor of the scripts that append to the log besides the write (real redis-server)', () => {
  it('a conflict resolution on a rolled-back store is refused and the rollback reported; once reported it is written', async () => {
    const { store, conflicts, losses, put, conflict, seq, logSeqs } = await setup();
    for (let i = 1; i <= 5; i++) expect(await put(`k${i}`)).toBe(i);
    await conflict('c'); // seq 6, west's version pending
    await client.save();
    for (let i = 7; i <= 10; i++) expect(await put(`k${i}`)).toBe(i); // shipped to the peers, lost here
    await rollBackToSave();
    expect(await seq()).toBe(6);
    const [pending] = await conflicts.pendingFor('carts', 'c');
    const current = (await store.get('carts', 'c'))!;
    const resolve = () => conflicts.writeResolution({
      keyspace: 'carts', key: 'c', partition: 0, bucket: 0, expectedVersion: current.version, incomingVersion: pending!.version,
      resolved: { ...pending!.record, vv: { east: 1, west: 1 } }, hlcFloor: `${pending!.record.hlc[0]}.0`, journal: {}, actions: [],
    });
    const first = await resolve().then((r) => (r.written ? `written at seq ${r.seq}` : r.reason), (err: { name: string; code: number }) => `${err.name} ${err.code}`);
    expect(first, 'not seq 7 again under the same log incarnation').toBe(`StoreError ${StoreErrorCode.StoreReset}`);
    expect(await seq()).toBe(6);
    expect(await logSeqs()).toEqual([1, 2, 3, 4, 5, 6]);
    await settle();
    expect(losses).toEqual([{ seqsLost: 4 }]);
    // once reported (the gateway renews the log incarnation), the resolution goes on
    await client.save();
    expect(await resolve()).toMatchObject({ written: true, seq: 7 });
    expect(losses).toHaveLength(1);
    // the seq a resolution handed out is a floor too: a rollback below it stops the next write
    await rollBackToSave();
    await expect(put('k8')).rejects.toMatchObject({ code: StoreErrorCode.StoreReset });
    await settle();
    expect(losses).toEqual([{ seqsLost: 4 }, { seqsLost: 1 }]);
  });

  it('a re-offer of pending versions on a rolled-back store is refused and the rollback reported; once reported it appends', async () => {
    const { conflicts, losses, put, conflict, seq, logSeqs } = await setup();
    for (let i = 1; i <= 3; i++) expect(await put(`k${i}`)).toBe(i);
    await conflict('p1'); // 4
    await conflict('p2'); // 5
    await conflict('p3'); // 6
    await client.save();
    for (let i = 7; i <= 10; i++) expect(await put(`k${i}`)).toBe(i);
    await rollBackToSave();
    expect(await seq()).toBe(6);
    // three re-offers would take seqs 7..9: seqs the peers hold with k7..k9, and three short of
    // the floor's 10; more would take the log past it and no later check could see the loss
    const offered: string[] = [];
    for (const key of ['p1', 'p2', 'p3']) {
      offered.push(await conflicts.reofferPending('carts', key, 0).then((s) => `seqs ${s.join(',')}`, (err: { name: string; code: number }) => `${err.name} ${err.code}`));
      await settle();
    }
    expect(offered[0], 'no seq handed out again under the same log incarnation').toBe(`StoreError ${StoreErrorCode.StoreReset}`);
    expect(losses).toEqual([{ seqsLost: 4 }]);
    // reported after the first refusal: the others append under the log's new incarnation
    expect(offered.slice(1)).toEqual(['seqs 7', 'seqs 8']);
    expect(await logSeqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await seq()).toBe(8);
  });

  it('on a store that holds its log, resolutions and re-offers run as before', async () => {
    const { store, conflicts, losses, put, conflict } = await setup();
    expect(await put('a')).toBe(1);
    await conflict('c');
    expect(await conflicts.reofferPending('carts', 'c', 0)).toEqual([3]);
    const [pending] = await conflicts.pendingFor('carts', 'c');
    const current = (await store.get('carts', 'c'))!;
    expect(await conflicts.writeResolution({
      keyspace: 'carts', key: 'c', partition: 0, bucket: 0, expectedVersion: current.version, incomingVersion: pending!.version,
      resolved: { ...pending!.record, vv: { east: 1, west: 1 } }, hlcFloor: `${pending!.record.hlc[0]}.0`, journal: {}, actions: [],
    })).toMatchObject({ written: true, seq: 4 });
    expect(store.headSeq()).toBe(4);
    expect(losses).toEqual([]);
  });
});
