/**
 * The board's encoding and diffing (board.ts): the partitions renewed in one witness round
 * share the head's round end, so renewals change no entry; an entry changes only with the
 * partition's authority; no lease is published later than the coordinator's; the reader
 * trusts an entry only while the board and the lease last, and takes changes by name.
 */
import { describe, expect, it } from 'vitest';
import { BOARD_ROUND_SLACK_MS, BoardPublisher, BoardReader, boardEntries, changedFields, type BoardEntry } from './board.js';
import type { Authority, WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';
import type { BoardPublication, BoardRead } from '../store/index.js';
import type { Clock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';

const KS = { name: 'orders', partitions: 6, onSplit: 'fence', writes: 'single-master' } as unknown as KeyspaceConfig;

function authority(parts: Authority[]): WriteAuthority {
  return {
    check: (_ks, p) => parts[p]!,
    activeRegion: (_ks, p) => (parts[p]!.kind === 'redirect' ? 'west' : 'east'),
    partitionState: (_ks, p) => (parts[p]!.kind === 'local' ? 'active' : 'replicating'),
    mayResolve: () => false,
  };
}

class FakeClock implements Clock {
  t = 1000;
  nowMs() { return this.t; }
  monoMs() { return this.t; }
  setTimer() { return { cancel() {} }; }
  sleep() { return Promise.resolve(); }
}

const local = (end: number, epoch = 2): Authority => ({ kind: 'local', epoch, fenced: true, leaseEndMonoMs: end });
const parse = (m: Map<string, string>, p: number) => JSON.parse(m.get(`p:orders:${p}`)!) as BoardEntry;

describe('board encoding', () => {
  it('the partitions of the latest round say lr, the round end is the earliest of theirs (floored on Redis\'s clock); others carry their own end', () => {
    const now = 1000;
    const parts = [local(2350), local(2350 + 1e-9), local(2350 - 1e-9), local(1700), { kind: 'redirect', region: 'west' } as Authority, { kind: 'local', epoch: 1, fenced: false } as Authority];
    const { parts: m, roundEndRedisMs } = boardEntries([KS], authority(parts), now, 5000.7);
    expect(roundEndRedisMs).toBe(Math.floor(2350 - 1e-9 + 5000.7));
    for (const p of [0, 1, 2]) expect(parse(m, p)).toMatchObject({ a: 'local', e: 2, f: 1, lr: 1 });
    expect(parse(m, 3)).toEqual({ a: 'local', e: 2, f: 1, l: Math.floor(1700 + 5000.7), o: 'east', s: 'active' });
    expect(parse(m, 4)).toEqual({ a: 'redirect', r: 'west', o: 'west', s: 'replicating' });
    expect(parse(m, 5)).toEqual({ a: 'local', e: 1, o: 'east', s: 'active' });
    // a lease within the slack of the latest counts as the round's: the round end is then its end
    const near = boardEntries([KS], authority([local(2350), local(2350 - BOARD_ROUND_SLACK_MS / 2), local(2350 - 2 * BOARD_ROUND_SLACK_MS), ...parts.slice(3)]), now, 0);
    expect(near.roundEndRedisMs).toBe(Math.floor(2350 - BOARD_ROUND_SLACK_MS / 2));
    expect(parse(near.parts, 2).l).toBe(Math.floor(2350 - 2 * BOARD_ROUND_SLACK_MS));
  });

  it('no partition\'s lease is published later than the coordinator\'s (seeded)', () => {
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let i = 0; i < 500; i++) {
      const now = 1000 + rnd() * 1000;
      const latest = now + 100 + rnd() * 1500;
      const ends = Array.from({ length: KS.partitions }, () => (rnd() < 0.6 ? latest - rnd() * BOARD_ROUND_SLACK_MS * 2 : now + rnd() * 1500));
      const offset = rnd() * 1e6 - 5e5;
      const { parts, roundEndRedisMs } = boardEntries([KS], authority(ends.map((e) => local(e))), now, offset);
      ends.forEach((end, p) => {
        const e = parse(parts, p);
        const published = e.lr ? roundEndRedisMs : e.l;
        expect(published).not.toBeNull();
        expect(published!).toBeLessThanOrEqual(end + offset);
      });
    }
  });

  it('a renewal round moves every lease end and changes no entry; an authority change changes its entry only', () => {
    const parts = [local(2350), local(2350), local(2350), { kind: 'redirect', region: 'west' } as Authority, local(2350), local(2350)];
    const a = boardEntries([KS], authority(parts), 1000, 0);
    const renewed = parts.map((x) => (x.kind === 'local' ? local(2850) : x));
    const b = boardEntries([KS], authority(renewed), 1500, 0);
    expect(changedFields(a.parts, b.parts).size).toBe(0);
    expect(b.roundEndRedisMs).toBe(2850);
    // partition 1 misses the round: its entry carries its own (earlier) end
    const missed = renewed.map((x, p) => (p === 1 ? local(2350) : x));
    const c = boardEntries([KS], authority(missed), 1500, 0);
    expect([...changedFields(b.parts, c.parts).keys()]).toEqual(['p:orders:1']);
    expect(parse(c.parts, 1).l).toBe(2350);
  });

  it('changedFields: changed and new fields with their values, a field no longer there as \'\'', () => {
    const prev = new Map([['a', '1'], ['b', '2'], ['c', '3']]);
    const next = new Map([['a', '1'], ['b', '4'], ['d', '5']]);
    expect([...changedFields(prev, next)]).toEqual([['b', '4'], ['d', '5'], ['c', '']]);
  });
});

describe('board publisher and reader (fake store)', () => {
  it('publishes whole first, then the changes; a refused change publishes whole at once under a new id', async () => {
    const calls: BoardPublication[] = [];
    let refuse = false;
    const store = {
      redisDeadline: async (ms: number) => ms + 10,
      publishBoard: async (p: BoardPublication) => { calls.push(p); if (refuse && p.expectedVersion > 0) return null; return { version: p.expectedVersion + 1, publication: p.expectedPublication + 1 }; },
    };
    const parts = [local(2350), local(2350), local(2350), { kind: 'redirect', region: 'west' } as Authority, local(2350), local(2350)];
    const clock = new FakeClock();
    const pub = new BoardPublisher(store, { keyspaces: [KS], authority: authority(parts), acked: () => new Map([['west', 4]]), shipped: () => ({ incarnation: 'i', seq: 4 }) }, clock, silentLogger());
    await pub.publishOnce();
    expect(calls[0]).toMatchObject({ expectedVersion: 0 });
    expect(calls[0]!.parts.size).toBe(KS.partitions);
    expect(Object.fromEntries(calls[0]!.head)).toEqual({ l: '2360', 'a:west': 'i:4', h: 'i:4' });
    for (let i = 0; i < KS.partitions; i++) if (parts[i]!.kind === 'local') parts[i] = local(2850);
    await pub.publishOnce();
    expect(calls[1]).toMatchObject({ expectedVersion: 1 });
    expect(calls[1]!.parts.size).toBe(0);
    expect(Object.fromEntries(calls[1]!.head)).toEqual({ l: '2860' });
    parts[3] = { kind: 'unavailable', retryAfterMs: 100, reason: 'x' };
    refuse = true;
    await pub.publishOnce();
    expect(calls[2]).toMatchObject({ expectedVersion: 2 });
    expect([...calls[2]!.parts.keys()]).toEqual(['p:orders:3']);
    expect(calls[3]).toMatchObject({ expectedVersion: 0 });
    expect(calls[3]!.boardId).not.toBe(calls[2]!.boardId);
    expect(calls[3]!.parts.size).toBe(KS.partitions);
  });

  it('the reader takes the coordinator\'s counter floor from the read that says writes are open, before it says so', async () => {
    const clock = new FakeClock();
    const adopted: Array<[number, number]> = [];
    let checkedWhenAdopted: boolean | undefined;
    let next: BoardRead = { redisNowMs: 101_000, incarnation: 'i', head: { _id: 'b1', _v: '1', _end: '101250', c: '0' }, entries: { mode: 'whole', fields: {} } };
    const reader: BoardReader = new BoardReader({
      readBoard: async () => next, noteSeqSeen: () => {},
      adoptCounterFloor: (floor: number, atMs: number) => { adopted.push([floor, atMs]); checkedWhenAdopted ??= reader.regionChecked(); },
    }, clock, silentLogger());
    await reader.readOnce();
    expect(adopted).toEqual([]);
    expect(reader.regionChecked()).toBe(false);
    next = { ...next, head: { ...next.head, _v: '2', f: '1839422212127744:1700000000000', c: '1' } };
    await reader.readOnce();
    expect(adopted).toEqual([[1839422212127744, 1700000000000]]);
    expect(checkedWhenAdopted).toBe(false);
    expect(reader.regionChecked()).toBe(true);
    next = { ...next, head: { ...next.head, _v: '3', f: 'junk' } };
    await reader.readOnce();
    expect(adopted).toHaveLength(1);
  });

  it('the reader: lr ends at the head\'s round end, no round end is no lease, nothing past the board\'s end; changes by name, a removed entry forgotten', async () => {
    const clock = new FakeClock();
    let next: BoardRead | null = null;
    const store = { readBoard: async () => next!, noteSeqSeen: () => {}, adoptCounterFloor: () => {} };
    const reader = new BoardReader(store, clock, silentLogger());
    const lr = JSON.stringify({ a: 'local', e: 2, f: 1, lr: 1, o: 'east', s: 'active' });
    const own = JSON.stringify({ a: 'local', e: 2, f: 1, l: 101_500, o: 'east', s: 'active' });
    // Redis's clock = ours + 100000
    next = { redisNowMs: 101_000, incarnation: 'i', head: { _id: 'b1', _v: '3', _end: '101250', l: '102000' }, entries: { mode: 'whole', fields: { 'p:orders:0': lr, 'p:orders:1': own } } };
    await reader.readOnce();
    expect(reader.check(KS, 0)).toEqual({ kind: 'local', epoch: 2, fenced: true, leaseEndMonoMs: 2000 });
    expect(reader.check(KS, 1)).toEqual({ kind: 'local', epoch: 2, fenced: true, leaseEndMonoMs: 1500 });
    expect(reader.check(KS, 2)).toMatchObject({ kind: 'unavailable', code: 'no_write_authority' });
    clock.t = 1200;
    expect(reader.check(KS, 1)).toMatchObject({ kind: 'local' });
    clock.t = 1250; // the board's end
    expect(reader.check(KS, 0)).toMatchObject({ kind: 'unavailable', code: 'no_write_authority' });
    // a read with no round end: lr entries hold no lease; a changed entry by name, a removed one forgotten
    clock.t = 1300;
    next = { redisNowMs: 101_300, incarnation: 'i', head: { _id: 'b1', _v: '5', _end: '101550' }, entries: { mode: 'diff', fields: new Map([['p:orders:1', null], ['p:orders:2', JSON.stringify({ a: 'redirect', r: 'west', o: 'west', s: 'replicating' })]]) } };
    await reader.readOnce();
    expect(reader.check(KS, 0)).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/lease on orders\/0 ended/) });
    expect(reader.check(KS, 1)).toMatchObject({ kind: 'unavailable', code: 'no_write_authority' });
    expect(reader.check(KS, 2)).toEqual({ kind: 'redirect', region: 'west' });
    // the round end passed: lr entries hold no lease
    next = { redisNowMs: 101_300, incarnation: 'i', head: { _id: 'b1', _v: '5', _end: '101550', l: '101300' }, entries: { mode: 'same' } };
    await reader.readOnce();
    expect(reader.check(KS, 0)).toMatchObject({ kind: 'unavailable' });
    // the board gone: nothing is trusted
    next = { redisNowMs: 101_300, incarnation: 'i', head: {}, entries: { mode: 'none' } };
    await reader.readOnce();
    expect(reader.check(KS, 2)).toMatchObject({ kind: 'unavailable', code: 'no_write_authority' });
  });
});
