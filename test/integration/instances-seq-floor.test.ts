/**
 * The write script's seq floor (`minSeq`, RegionStore.maxSeqSeen) with several instances per
 * region. A process knows the seqs it handed out and those its own senders read (onLogRead),
 * plus the head at its boot; only the coordinator's senders read the log. So the coordinator
 * publishes its floor with the log's incarnation on the board (`h`), and every other
 * instance's board reader raises its store's floor from it. Failed first without that: after a
 * failover to a replica that missed writes (same identity, shorter log), the other instance's
 * writes got seqs 7..10 again, already shipped with other content, under the same incarnation,
 * and no loss was reported.
 *
 * Two RegionStores as two gateway processes build them (the coordinator's main store and
 * its replication store that ships the log; the other instance's main store and its board
 * reader) on one Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { eventually, startRedis } from '../helpers/cluster.js';
import { createStoreConnection } from '../../gateway/store/connection.js';
import { RegionStore } from '../../gateway/store/index.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';
import { BoardPublisher, BoardReader } from '../../gateway/coordination/board.js';
import type { WriteAuthority } from '../../gateway/authority.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

describe('the seq floor with several instances per region', () => {
  it('after a rollback to a shorter log, a write through an instance that is not the coordinator does not reuse a seq the coordinator shipped', async () => {
    const { redis } = await startRedis();
    cleanups.push(() => redis.stop());
    const conn = (name: string) => {
      const c = createStoreConnection({ url: redis.url, keyPrefix: 'mi:', commandTimeoutMs: 2000 }, silentLogger());
      cleanups.push(async () => { c.disconnect(); });
      return c;
    };
    const opts = { region: 'east', prefix: 'mi:', partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() };
    // instance east-0 (the coordinator): main store + the replication store its senders read with
    const a = new RegionStore(conn('a'), opts);
    const aShip = new RegionStore(conn('a-repl'), { ...opts, onLogRead: (seq) => a.noteSeqSeen(seq) });
    // instance east-1: main store only (no links: it is not the coordinator)
    const b = new RegionStore(conn('b'), opts);
    let lossesA = 0;
    let lossesB = 0;
    a.onIdentityLost(() => { lossesA++; });
    b.onIdentityLost(() => { lossesB++; b.renewIncarnation(); void b.incarnation().catch(() => {}); });
    await eventually(() => a.redis.status === 'ready' && b.redis.status === 'ready');
    await a.checkIdentity();
    await b.checkIdentity();
    b.noteSeqSeen((await b.bounds()).lastSeq); // the head at east-1's boot (gateway.ts onRedisReady)
    const put = (s: RegionStore, key: string) => s.write({
      keyspace: 'carts', key, partition: 0, bucket: 0, value: Buffer.from(key), contentType: 'text/plain', tombstone: false, epoch: 0, fenced: false,
    });
    for (let i = 1; i <= 10; i++) expect((await put(a, `a${i}`)).seq).toBe(i);
    // the coordinator's sender reads (and ships to west) seqs 1..10
    const shipped = await aShip.readLog(0, 100, 1 << 20);
    expect(shipped.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // the coordinator's board (one instance's token '': no lease check) and east-1's reader
    const incarnation = await aShip.incarnation();
    const publisher = new BoardPublisher(a, { keyspaces: [], authority: {} as WriteAuthority, acked: () => new Map(), shipped: () => ({ incarnation, seq: a.headSeq() }) }, realClock, silentLogger());
    const reader = new BoardReader(b, realClock, silentLogger());
    publisher.start();
    reader.start();
    cleanups.push(async () => { publisher.stop(); reader.stop(); });
    expect(await eventually(() => b.headSeq() >= 10, 2000)).toBe(true);

    // a failover to a replica that had the first 6 writes only (same identity, shorter log)
    const raw = new Redis(redis.url);
    cleanups.push(async () => { raw.disconnect(); });
    await raw.set('mi:seq', '6');
    const kept = await raw.xrangeBuffer('mi:log', '-', '6-0');
    await raw.del('mi:log');
    for (const [id, fields] of kept) await raw.xadd('mi:log', id.toString(), ...fields);
    for (let i = 7; i <= 10; i++) await raw.del(a.keys.record('carts', `a${i}`));

    // east-1 takes the next writes (a load balancer sends clients to any instance)
    const seqs: (number | string)[] = [];
    const beforeAnyLoss: (number | string)[] = [];
    for (let i = 1; i <= 5; i++) {
      const noLossYet = lossesA + lossesB === 0;
      const r = await put(b, `b${i}`).then((w) => w.seq, (err: Error) => `${err.name}`);
      seqs.push(r);
      if (noLossYet) beforeAnyLoss.push(r);
    }
    // the coordinator's own periodic check afterwards
    const aSaysIntact = await a.checkIdentity();
    console.log(`east-1's writes after the rollback got: ${JSON.stringify(seqs)}; coordinator's identity check: ${aSaysIntact ? 'intact' : 'loss'}; losses reported: coordinator ${lossesA}, east-1 ${lossesB}`);
    // seqs 7..10 were shipped with east-0's writes a7..a10: handing them out again for other
    // content under the same incarnation is what the store's seq check exists to prevent
    // (after the loss the gateway starts a new log incarnation, whose seqs start from the head)
    const reused = beforeAnyLoss.filter((s) => typeof s === 'number' && s <= 10);
    expect(reused, 'seqs handed out again after they were shipped').toEqual([]);
    expect(typeof seqs[0], 'the first write after the rollback is refused').toBe('string');
    expect(lossesA + lossesB, 'the rollback is reported').toBeGreaterThan(0);
  });
});
