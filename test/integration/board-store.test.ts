/**
 * The coordinator's board on a real redis-server (lua/publishBoard-4.lua, lua/readBoard-4.lua)
 * between a BoardPublisher and a BoardReader, the coordinator's authority a scripted fake:
 *  - renewals that move every lease end change the head only: the reader reads no entry;
 *  - an authority change reaches the reader as that one entry (diff);
 *  - a reader further behind than the changes list, a board published whole by another
 *    coordinator, a board Redis lost: the reader reads it whole and ends on the same entries;
 *  - at every step the reader's judgement is one the coordinator made: never local where the
 *    coordinator said otherwise, never a lease end later than the coordinator's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/cluster.js';
import { createStoreConnection } from '../../gateway/store/connection.js';
import { RegionStore } from '../../gateway/store/index.js';
import { silentLogger } from '../../infra/log.js';
import { realClock } from '../../infra/clock.js';
import { BOARD_CHANGES_MAX, BoardPublisher, BoardReader } from '../../gateway/coordination/board.js';
import type { Authority, WriteAuthority } from '../../gateway/authority.js';
import type { KeyspaceConfig } from '../../gateway/config.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

const KS = { name: 'orders', partitions: 64, onSplit: 'fence', writes: 'single-master' } as unknown as KeyspaceConfig;

/** The coordinator's authority, scripted: per partition local (fenced, a lease end), redirect or unavailable. */
class FakeAuthority implements WriteAuthority {
  readonly parts: Authority[] = [];
  constructor(n: number) { for (let p = 0; p < n; p++) this.parts.push({ kind: 'redirect', region: 'west' }); }
  check(_ks: KeyspaceConfig, p: number): Authority { return this.parts[p]!; }
  activeRegion(_ks: KeyspaceConfig, p: number) { const a = this.parts[p]!; return a.kind === 'redirect' ? a.region : 'east'; }
  partitionState(_ks: KeyspaceConfig, p: number) { return this.parts[p]!.kind === 'local' ? 'active' : 'replicating'; }
  mayResolve() { return false; }
  renewAll(endMonoMs: number) { this.parts.forEach((a, p) => { if (a.kind === 'local') this.parts[p] = { ...a, leaseEndMonoMs: endMonoMs }; }); }
}

async function setup() {
  const { redis } = await startRedis();
  cleanups.push(() => redis.stop());
  const store = (name: string) => {
    const c = createStoreConnection({ url: redis.url, keyPrefix: 'b:', commandTimeoutMs: 2000 }, silentLogger());
    cleanups.push(async () => { c.disconnect(); });
    return new RegionStore(c, { region: `east-${name}`, prefix: 'b:', partitionOf: () => 0, logMaxEntries: 1000, logMaxBytes: 1 << 20, nowMs: () => Date.now() });
  };
  const raw = new Redis(redis.url);
  cleanups.push(async () => { raw.disconnect(); });
  const commands = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await raw.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  return { store, raw, commands };
}

describe('the coordinator board (real redis-server)', () => {
  it('renewals change the head only; an authority change is read as that entry; a reader far behind, a board published whole elsewhere or lost, is read whole', async () => {
    const { store, raw, commands } = await setup();
    const auth = new FakeAuthority(KS.partitions);
    const now = realClock.monoMs();
    for (let p = 0; p < 40; p++) auth.parts[p] = { kind: 'local', epoch: 3, fenced: true, leaseEndMonoMs: now + 1350 };
    auth.parts[40] = { kind: 'local', epoch: 3, fenced: true, leaseEndMonoMs: now + 700 }; // renewed in an older round
    auth.parts[41] = { kind: 'unavailable', retryAfterMs: 100, reason: 'lease-pending' };
    const publisher = new BoardPublisher(store('0'), { keyspaces: [KS], authority: auth, acked: () => new Map([['west', 5]]), shipped: () => ({ incarnation: 'i1', seq: 9 }) }, realClock, silentLogger());
    const reader = new BoardReader(store('1'), realClock, silentLogger());
    await publisher.publishOnce();
    await reader.readOnce();
    const judge = (p: number) => reader.check(KS, p);
    expect(judge(0)).toMatchObject({ kind: 'local', epoch: 3, fenced: true });
    expect(judge(50)).toEqual({ kind: 'redirect', region: 'west' });
    expect(judge(41)).toMatchObject({ kind: 'unavailable' });
    const end0 = (judge(0) as { leaseEndMonoMs: number }).leaseEndMonoMs;
    expect(end0).toBeLessThanOrEqual(now + 1350);
    expect(end0).toBeGreaterThan(now + 1350 - 50);
    const end40 = (judge(40) as { leaseEndMonoMs: number }).leaseEndMonoMs;
    expect(end40).toBeLessThanOrEqual(now + 700);
    expect(end40).toBeGreaterThan(now + 700 - 50);
    expect(await reader.waitForAck('west', 5, 10)).toBe(false); // Redis holds no incarnation i1

    // ten renewal rounds: every lease end moves, no entry is written or read
    const c0 = await commands();
    for (let i = 1; i <= 10; i++) {
      auth.renewAll(now + 1350 + i * 20);
      await publisher.publishOnce();
      await reader.readOnce();
    }
    const c1 = await commands();
    expect((c1.hgetall ?? 0) - (c0.hgetall ?? 0)).toBe(10); // the head, once a read: no whole read
    // a round: the head's end and version, and its round's end; one entry once (partition 40 joins the round)
    expect(c1.hset! - c0.hset!).toBe(21);
    expect((c1.hmget ?? 0) - (c0.hmget ?? 0)).toBe(11); // the publisher's check of the head's id and version, once a round; the reader's read of partition 40's entry
    const end0b = (judge(0) as { leaseEndMonoMs: number }).leaseEndMonoMs;
    expect(end0b).toBeGreaterThan(end0 + 150);
    expect(end0b).toBeLessThanOrEqual(now + 1350 + 200);
    // partition 40 was renewed with the others: it joined the round (its entry changed once)
    expect((judge(40) as { leaseEndMonoMs: number }).leaseEndMonoMs).toBe(end0b);
    expect((await raw.hgetall('b:board:parts'))['p:orders:40']).toContain('"lr":1');

    // one authority change: the reader gets it as a diff of one field
    auth.parts[7] = { kind: 'redirect', region: 'west' };
    const c2 = await commands();
    await publisher.publishOnce();
    await reader.readOnce();
    const c3 = await commands();
    expect(judge(7)).toEqual({ kind: 'redirect', region: 'west' });
    expect((c3.hgetall ?? 0) - (c2.hgetall ?? 0)).toBe(1); // the head only
    expect((c3.hmget ?? 0) - (c2.hmget ?? 0)).toBe(2); // the publisher's check, the reader's one field
    expect(((await raw.lrange('b:board:changes', 0, 0))[0] ?? '').split('\n').slice(1)).toEqual(['p:orders:7']);

    // a reader further behind than the changes list reads the board whole
    const late = new BoardReader(store('2'), realClock, silentLogger());
    await late.readOnce();
    for (let i = 0; i < BOARD_CHANGES_MAX + 4; i++) {
      auth.parts[8] = i % 2 === 0 ? { kind: 'redirect', region: 'west' } : { kind: 'unavailable', retryAfterMs: 100, reason: `round ${i}` };
      await publisher.publishOnce();
    }
    expect(await raw.llen('b:board:changes')).toBe(BOARD_CHANGES_MAX);
    const c4 = await commands();
    await late.readOnce();
    await reader.readOnce();
    const c5 = await commands();
    expect((c5.hgetall ?? 0) - (c4.hgetall ?? 0)).toBe(4); // heads and whole reads
    for (const r of [late, reader]) expect(r.check(KS, 8)).toMatchObject({ kind: 'unavailable', reason: `round ${BOARD_CHANGES_MAX + 3}` });

    // another coordinator publishes the board whole: this one's next diff is refused, it publishes whole again
    const other = new BoardPublisher(store('3'), { keyspaces: [KS], authority: new FakeAuthority(KS.partitions), acked: () => new Map() }, realClock, silentLogger());
    await other.publishOnce();
    await reader.readOnce();
    expect(judge(0)).toEqual({ kind: 'redirect', region: 'west' });
    expect(await reader.waitForAck('west', 1, 10)).toBe(false); // the other board has no acks
    auth.parts[9] = { kind: 'unavailable', retryAfterMs: 100, reason: 'moved' };
    await publisher.publishOnce(); // its changes refused (not the board it wrote): published whole
    await reader.readOnce();
    expect(judge(9)).toMatchObject({ kind: 'unavailable', reason: 'moved' });
    expect(judge(0)).toMatchObject({ kind: 'local', epoch: 3 });

    // Redis loses the board (a restart without it, a failover to a replica without it)
    await raw.del('b:board', 'b:board:parts', 'b:board:changes');
    await reader.readOnce();
    expect(judge(0)).toMatchObject({ kind: 'unavailable', code: 'no_write_authority' });
    await publisher.publishOnce();
    await reader.readOnce();
    expect(judge(0)).toMatchObject({ kind: 'local', epoch: 3 });
  });

  it('a head-only publication lost in a Redis rollback is written again: the word that the coordinator\'s writes are open comes back at the next round', async () => {
    const { store, raw } = await setup();
    const auth = new FakeAuthority(KS.partitions);
    let checked = false;
    const publisher = new BoardPublisher(store('0'), { keyspaces: [KS], authority: auth, acked: () => new Map(), regionChecked: () => checked }, realClock, silentLogger());
    const reader = new BoardReader(store('1'), realClock, silentLogger());
    await publisher.publishOnce();
    await reader.readOnce();
    expect(reader.regionChecked()).toBe(false);
    // Redis's data as a copy holds it now (its board says c = 0)
    const keys = ['b:board', 'b:board:parts', 'b:board:changes'];
    const copy = await Promise.all(keys.map((k) => raw.dumpBuffer(k)));
    // the coordinator's check ends: a publication of the head only (no entry changed)
    checked = true;
    await publisher.publishOnce();
    await reader.readOnce();
    expect(reader.regionChecked()).toBe(true);
    // Redis comes back with the copy (a rollback): the board as it was before that publication
    for (let i = 0; i < keys.length; i++) if (copy[i]) await raw.restore(keys[i]!, 0, copy[i]!, 'REPLACE');
    expect(await raw.hget('b:board', 'c')).toBe('0');
    // the next round writes the coordinator's word again: the other instances' writes open within a round
    await publisher.publishOnce();
    await reader.readOnce();
    expect(await raw.hget('b:board', 'c')).toBe('1');
    expect(reader.regionChecked()).toBe(true);
  });

  it('at every step the reader trusts nothing the coordinator did not say: seeded changes of owner, epoch, state and lease', async () => {
    const { store } = await setup();
    const auth = new FakeAuthority(KS.partitions);
    const publisher = new BoardPublisher(store('0'), { keyspaces: [KS], authority: auth, acked: () => new Map() }, realClock, silentLogger());
    const readers = [new BoardReader(store('1'), realClock, silentLogger()), new BoardReader(store('2'), realClock, silentLogger())];
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    // what the coordinator said at each publication, per partition: the judgements a reader may hold
    const said: Authority[][] = [];
    const readAt: number[] = [-1, -1];
    const missed = new Set<number>();
    let roundEnd = realClock.monoMs() + 1000;
    for (let step = 0; step < 300; step++) {
      const now = realClock.monoMs();
      const renewal = rnd() < 0.3;
      if (renewal) roundEnd = now + 1000 + rnd() * 400;
      for (let k = 0; k < 3; k++) {
        const p = Math.floor(rnd() * KS.partitions);
        const x = rnd();
        missed.delete(p);
        if (x >= 0.4 && x < 0.55) missed.add(p);
        auth.parts[p] = x < 0.4 ? { kind: 'local', epoch: 1 + Math.floor(rnd() * 3), fenced: true, leaseEndMonoMs: roundEnd }
          : x < 0.55 ? { kind: 'local', epoch: 1 + Math.floor(rnd() * 3), fenced: true, leaseEndMonoMs: now + rnd() * 900 } // not renewed with the others
            : x < 0.8 ? { kind: 'redirect', region: rnd() < 0.5 ? 'west' : 'south' } : { kind: 'unavailable', retryAfterMs: 100, reason: `r${step}` };
      }
      // a round renews every lease it confirmed (not those that missed it)
      if (renewal) auth.parts.forEach((a, p) => { if (a.kind === 'local' && !missed.has(p)) auth.parts[p] = { ...a, leaseEndMonoMs: roundEnd }; });
      said.push([...auth.parts]);
      await publisher.publishOnce();
      const i = step % 2;
      if (rnd() < 0.8) { await readers[i]!.readOnce(); readAt[i] = said.length - 1; }
      readers.forEach((reader, j) => {
        for (let p = 0; p < KS.partitions; p++) {
          const got = reader.check(KS, p);
          if (got.kind !== 'local') continue;
          // the publication it read said local at this epoch, with a lease end at least the reader's
          const a = said[readAt[j]!]?.[p];
          const ok = a?.kind === 'local' && a.epoch === got.epoch && (a.leaseEndMonoMs ?? 0) >= (got.leaseEndMonoMs ?? Infinity);
          expect(ok, `step ${step} partition ${p}: ${JSON.stringify(got)} where the coordinator said ${JSON.stringify(a)}`).toBe(true);
        }
      });
    }
    // and once read, the reader holds exactly what the coordinator said last
    await publisher.publishOnce();
    for (const reader of readers) {
      await reader.readOnce();
      for (let p = 0; p < KS.partitions; p++) {
        const a = auth.parts[p]!;
        const got = reader.check(KS, p);
        if (a.kind === 'local' && (a.leaseEndMonoMs ?? 0) > realClock.monoMs() + 50) expect(got).toMatchObject({ kind: 'local', epoch: a.epoch });
        else if (a.kind === 'redirect') expect(got).toEqual({ kind: 'redirect', region: a.region });
        else if (a.kind === 'unavailable') expect(got).toMatchObject({ kind: 'unavailable', reason: a.reason });
      }
    }
  });
});
