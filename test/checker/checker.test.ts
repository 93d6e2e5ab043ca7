/**
 * The checker on hand-made histories: correct ones pass, and each deliberately broken one is
 * caught by the invariant it breaks (with the offending ops in the report).
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, formatReport, type CheckInput } from './checker.js';
import type { FinalRecord, GrantRecord, JournalEntry, Op } from './history.js';
import { checkSplitBrain } from './split-brain.js';
import { compareVv } from './vv.js';

let nextId = 1;
let clock = 0;
function op(fields: Partial<Op> & Pick<Op, 'kind' | 'region'>): Op {
  clock += 10;
  return {
    id: nextId++, client: `c-${fields.region}`, keyspace: 'carts', key: 'k', invokeMs: clock, completeMs: clock + 5,
    status: 'ok', ackRegion: fields.region, ...fields,
  };
}
const live = (version: string, value: string): FinalRecord => ({ version, value, tombstone: false });
const tomb = (version: string): FinalRecord => ({ version, value: '', tombstone: true });

function input(ops: Op[], finals: Record<string, Record<string, FinalRecord | null>>, journal: JournalEntry[] = [], fence: string[] = ['orders']): CheckInput {
  return {
    ops, journal, fenceKeyspaces: new Set(fence),
    finals: new Map(Object.entries(finals).map(([r, m]) => [r, new Map(Object.entries(m))])),
  };
}
const both = (rec: FinalRecord | null, key = 'carts/k') => ({ east: { [key]: rec }, west: { [key]: rec } });

function invariants(i: CheckInput): string[] {
  const r = checkHistory(i);
  return r.violations.map((v) => v.invariant);
}

describe('version vectors', () => {
  it('orders vectors', () => {
    expect(compareVv('east:1', 'east:2')).toBe('before');
    expect(compareVv('east:2,west:1', 'east:2')).toBe('after');
    expect(compareVv('east:1', 'west:1')).toBe('concurrent');
    expect(compareVv('west:1,east:1', 'east:1,west:1')).toBe('equal');
    expect(compareVv('', 'east:1')).toBe('before');
    expect(() => compareVv('east', 'east:1')).toThrow(/malformed/);
  });
});

describe('checker accepts correct histories', () => {
  it('a chain of writes ending in the last one, reads that saw them', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'read', region: 'east', readValue: 'a', version: 'east:1' }),
      op({ kind: 'cas', region: 'west', value: 'b', ifMatch: 'east:1', version: 'east:1,west:1' }),
      op({ kind: 'read', region: 'west', readValue: 'b', version: 'east:1,west:1' }),
    ];
    const r = checkHistory(input(ops, both(live('east:1,west:1', 'b'))));
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a concurrent pair resolved by the journal (the loser is recorded)', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'west', value: 'b', version: 'west:1' }),
    ];
    const j: JournalEntry = { keyspace: 'carts', key: 'k', type: 'key-conflict', winner: 'incoming', currentVersion: 'east:1', incomingVersion: 'west:1', currentValue: 'a', incomingValue: 'b' };
    expect(invariants(input(ops, both(live('east:2,west:1', 'b')), [j]))).toEqual([]);
  });

  it('a delete that stays deleted; a delete overwritten by a write that saw it', () => {
    const a = [op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }), op({ kind: 'delete', region: 'east', version: 'east:2' })];
    expect(invariants(input(a, both(tomb('east:2'))))).toEqual([]);
    const b = [...a, op({ kind: 'write', region: 'west', value: 'c', version: 'east:2,west:1' })];
    expect(invariants(input(b, both(live('east:2,west:1', 'c'))))).toEqual([]);
  });

  it('a write of unknown outcome still open may explain an overwrite', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'east', value: 'x', status: 'unknown', version: undefined }),
    ];
    expect(invariants(input(ops, both(live('east:2', 'x'))))).toEqual([]);
  });
});

describe('checker catches broken histories', () => {
  it('regions that disagree (convergence)', () => {
    const ops = [op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' })];
    const i = input(ops, { east: { 'carts/k': live('east:1', 'a') }, west: { 'carts/k': null } });
    expect(invariants(i)).toContain('convergence');
    expect(formatReport(checkHistory(i), ops)).toMatch(/regions differ: east: "a" v=east:1; west: absent/);
  });

  it('an acked write the final version never saw (lost write)', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'west', value: 'b', version: 'west:1' }),
    ];
    const i = input(ops, both(live('west:1', 'b')));
    expect(invariants(i)).toEqual(['lost-write']);
    const report = formatReport(checkHistory(i), ops);
    expect(report).toContain('[lost-write] carts/k: final version west:1 has not seen the acked write v=east:1');
    expect(report).toMatch(/! #\d+ .*east carts\/k write "a" => ok v=east:1/);
  });

  it('an acked write silently replaced by a dominating version with no journal entry (lost write)', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'west', value: 'b', version: 'west:1' }),
    ];
    expect(invariants(input(ops, both(live('east:2,west:1', 'b'))))).toEqual(['lost-write']);
  });

  it('an acked write that vanished everywhere (lost write)', () => {
    const ops = [op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' })];
    expect(invariants(input(ops, both(null)))).toEqual(['lost-write']);
  });

  it('a delete that comes back without a write that saw it (resurrected delete)', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'delete', region: 'east', version: 'east:2' }),
    ];
    const i = input(ops, both(live('east:1', 'a')));
    expect(invariants(i)).toContain('resurrected-delete');
  });

  it('a delete carried on by a later tombstone that lost a journaled delete-vs-update to a write is accounted for; without the entry it is not', () => {
    // west deletes (east:106,west:96) concurrently with east's delete (east:108,west:95); the
    // tombstones merge into a resolution (east:108,west:97) which then loses to east's later
    // write (east:109,west:95): the key ends live, and no journal entry names west's delete itself
    const ops = [
      op({ kind: 'delete', region: 'east', version: 'east:108,west:95' }),
      op({ kind: 'delete', region: 'west', version: 'east:106,west:96' }),
      op({ kind: 'write', region: 'east', value: 'w', version: 'east:109,west:95' }),
    ];
    const final = both(live('east:109,west:98', 'w'));
    const j: JournalEntry = { keyspace: 'carts', key: 'k', type: 'delete-vs-update', winner: 'incoming', currentVersion: 'east:108,west:97', incomingVersion: 'east:109,west:95' };
    expect(invariants(input(ops, final, [j]))).toEqual([]);
    expect(invariants(input(ops, final))).toContain('resurrected-delete');
    // a tombstone that won its conflict does not account for a delete that came back
    expect(invariants(input(ops, final, [{ ...j, winner: 'current' }]))).toContain('resurrected-delete');
  });

  it('two concurrent deletes merged into one tombstone (not journaled by design)', () => {
    const ops = [
      op({ kind: 'delete', region: 'east', version: 'east:2,west:1' }),
      op({ kind: 'delete', region: 'west', version: 'east:1,west:2' }),
    ];
    expect(invariants(input(ops, both(tomb('east:3,west:2'))))).toEqual([]);
  });

  it('a failover fork on a fence keyspace recorded as a stale-epoch conflict: the acked loser is a lost write', () => {
    const a = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'a', version: 'west:7' });
    clock += 1000;
    const b = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'b', version: 'east:1,west:6' });
    const j: JournalEntry = { keyspace: 'orders', key: 'k', type: 'stale-epoch', winner: 'current', currentVersion: 'east:1,west:6', incomingVersion: 'west:7', currentValue: 'b', incomingValue: 'a' };
    const i = input([a, b], both(live('east:2,west:7', 'b'), 'orders/k'), [j]);
    expect(invariants(i)).toEqual(['lost-write']);
    expect(formatReport(checkHistory(i), [a, b])).toMatch(/acked write v=west:7 at west lost a stale-epoch merge on a fence keyspace/);
    // the same fork on a diverge keyspace (stale-epoch there only orders the merge) is accounted for by the journal
    expect(invariants({ ...i, fenceKeyspaces: new Set() })).toEqual([]);
    // a later acked write that saw the resolution does not excuse the loss
    const c = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'c', version: 'east:3,west:7' });
    expect(invariants(input([a, b, c], both(live('east:3,west:7', 'c'), 'orders/k'), [j]))).toEqual(['lost-write']);
    // the same fork journaled as an ordinary conflict: the epochs did not tell the stale owner
    const k: JournalEntry = { ...j, type: 'state-conflict' };
    expect(invariants(input([a, b], both(live('east:2,west:7', 'b'), 'orders/k'), [k]))).toEqual(['fence-single-writer']);
  });

  it('on a fence keyspace without a sync replica (asyncFailoverKeyspaces) the stale-epoch loser is judged as a loser: recoverable, counted', () => {
    const a = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'a', version: 'west:7' });
    clock += 1000;
    const b = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'b', version: 'east:1,west:6' });
    const j: JournalEntry = { keyspace: 'orders', key: 'k', type: 'stale-epoch', winner: 'current', currentVersion: 'east:1,west:6', incomingVersion: 'west:7', currentValue: 'b', incomingValue: 'a' };
    const i = { ...input([a, b], both(live('east:2,west:7', 'b'), 'orders/k'), [j]), asyncFailoverKeyspaces: new Set(['orders']) };
    const r = checkHistory(i);
    expect(r.violations).toEqual([]);
    expect(r.stats.failoverLosers).toBe(1);
    // ... but a loser the journal does not hold byte for byte is lost there too
    expect(invariants({ ...i, journal: [{ ...j, incomingValue: 'a'.repeat(2).slice(0, 1) + 'x' }] })).toEqual(['lost-write']);
  });

  it('a failover fork whose old-owner side ended in an acked delete, merged with the new owner\'s delete (delete-vs-delete, not journaled), is not flagged', () => {
    const a = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'a', version: 'east:9' });
    const d = op({ kind: 'delete', region: 'east', keyspace: 'orders', version: 'east:10' });
    clock += 1000;
    const b = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'b', version: 'east:8,west:1' });
    const e = op({ kind: 'delete', region: 'west', keyspace: 'orders', version: 'east:8,west:2' });
    expect(invariants(input([a, d, b, e], both(tomb('east:10,west:2'), 'orders/k')))).toEqual([]);
    // the key ending live (the delete lost to something no journal explains) is still a fork
    expect(invariants(input([a, d, b], both(live('east:8,west:1', 'b'), 'orders/k')))).toContain('fence-single-writer');
  });

  it('the same delete-vs-delete merge followed by a write that saw both (the key ends live) is not flagged; a side whose last word was a write is', () => {
    // the frozen-owner scenario: the old owner's acked write then its acked delete, the new
    // owner's writes then its delete, the merge at the heal, then a write at west that saw it
    const a = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'a', version: 'east:5' });
    const d = op({ kind: 'delete', region: 'east', keyspace: 'orders', version: 'east:6' });
    clock += 1000;
    const b = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'b', version: 'east:4,west:1' });
    const e = op({ kind: 'delete', region: 'west', keyspace: 'orders', version: 'east:4,west:2' });
    clock += 1000;
    const f = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'f', version: 'east:6,west:3' });
    expect(invariants(input([a, d, b, e, f], both(live('east:6,west:3', 'f'), 'orders/k')))).toEqual([]);
    // the old owner's last word a write (nothing journaled): its write was superseded silently
    const g = op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'g', version: 'east:7' });
    expect(invariants(input([a, d, g, b, e, f], both(live('east:7,west:3', 'f'), 'orders/k')))).toContain('fence-single-writer');
    // the new owner's last word before the merge a write: a delete-vs-update the journal must hold
    const h = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'h', version: 'east:4,west:3' });
    const f2 = op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'f', version: 'east:6,west:4' });
    expect(invariants(input([a, d, b, e, h, f2], both(live('east:6,west:4', 'f'), 'orders/k')))).toContain('fence-single-writer');
  });

  it('a loser journaled without its value (or with other bytes) cannot be recovered: lost write', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a'.repeat(300), version: 'east:1' }),
      op({ kind: 'write', region: 'west', value: 'b', version: 'west:1' }),
    ];
    const j: JournalEntry = { keyspace: 'carts', key: 'k', type: 'key-conflict', winner: 'incoming', currentVersion: 'east:1', incomingVersion: 'west:1', currentValue: 'a'.repeat(300), incomingValue: 'b' };
    const final = both(live('east:2,west:1', 'b'));
    expect(invariants(input(ops, final, [j]))).toEqual([]);
    expect(invariants(input(ops, final, [{ ...j, currentValue: 'a'.repeat(64) }]))).toEqual(['lost-write']);
    expect(invariants(input(ops, final, [{ ...j, currentValue: undefined }]))).toEqual(['lost-write']);
    expect(formatReport(checkHistory(input(ops, final, [{ ...j, currentValue: 'a' }])), ops)).toMatch(/cannot be recovered from it byte for byte/);
  });

  it('lww: the final record is the latest-stamped acked write among the concurrent ones', () => {
    // a split: east writes once, west five times (all concurrent with east's write); west's 5th is the latest
    const east1 = op({ kind: 'write', region: 'east', value: 'e1', version: 'east:1', hlc: '1000.0' });
    const wests = [1, 2, 3, 4, 5].map((n) => op({ kind: 'write', region: 'west', value: `w${n}`, version: `west:${n}`, hlc: `${1000 + n}.0` }));
    const ops = [east1, ...wests];
    const journal = (loserVersion: string, loserValue: string): JournalEntry => ({ keyspace: 'carts', key: 'k', type: 'key-conflict', winner: 'incoming',
      currentVersion: loserVersion, incomingVersion: 'west:5', currentValue: loserValue, incomingValue: 'w5' });
    const lww = (final: FinalRecord, j: JournalEntry[]) => invariants({ ...input(ops, both(final), j), lwwKeyspaces: new Set(['carts']) });
    expect(lww(live('east:2,west:5', 'w5'), [journal('east:1', 'e1')])).toEqual([]);
    // ending on west's 3rd (a resolution that ran before the later writes arrived): flagged
    const third: JournalEntry[] = [journal('east:1', 'e1'), { ...journal('west:5', 'w5'), currentVersion: 'east:2,west:3', incomingVersion: 'west:5' }];
    expect(lww(live('east:3,west:5', 'w3'), third)).toContain('lww');
    // a tie on the wall clock is broken by the logical counter, then by the origin region
    const tie = [op({ kind: 'write', region: 'east', value: 'x', version: 'east:1', hlc: '2000.1' }), op({ kind: 'write', region: 'west', value: 'y', version: 'west:1', hlc: '2000.1' })];
    const tj: JournalEntry = { keyspace: 'carts', key: 'k', type: 'key-conflict', winner: 'incoming', currentVersion: 'east:1', incomingVersion: 'west:1', currentValue: 'x', incomingValue: 'y' };
    expect(invariants({ ...input(tie, both(live('east:2,west:1', 'y')), [tj]), lwwKeyspaces: new Set(['carts']) })).toEqual([]);
    expect(invariants({ ...input(tie, both(live('east:2,west:1', 'x')), [tj]), lwwKeyspaces: new Set(['carts']) })).toContain('lww');
    // not judged with a write of unknown outcome on the key (it may carry the latest stamp)
    const unknown = op({ kind: 'write', region: 'east', value: 'u', status: 'unknown', version: undefined });
    expect(invariants({ ...input([...ops, unknown], both(live('east:3,west:5', 'w3')), third), lwwKeyspaces: new Set(['carts']) })).not.toContain('lww');
  });

  it('two regions acking concurrent writes at once on a fence keyspace', () => {
    const ops = [
      op({ kind: 'write', region: 'east', keyspace: 'orders', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'west', keyspace: 'orders', value: 'b', version: 'west:1', invokeMs: clock - 12 }),
    ];
    const j: JournalEntry = { keyspace: 'orders', key: 'k', type: 'key-conflict', winner: 'incoming', currentVersion: 'east:1', incomingVersion: 'west:1', currentValue: 'a', incomingValue: 'b' };
    const i = input(ops, both(live('east:2,west:1', 'b'), 'orders/k'), [j]);
    expect(invariants(i)).toEqual(['fence-single-writer']);
    expect(formatReport(checkHistory(i), ops)).toContain('acknowledged writes at once');
    // the same history on a diverge keyspace is fine
    expect(invariants({ ...i, fenceKeyspaces: new Set() })).toEqual([]);
  });

  it('a read that did not see the write acked at the same region before it', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'write', region: 'east', value: 'b', version: 'east:2' }),
      op({ kind: 'read', region: 'east', readValue: 'a', version: 'east:1' }),
    ];
    expect(invariants(input(ops, both(live('east:2', 'b'))))).toEqual(['read-your-writes']);
  });

  it('a 404 after an acked write with no delete anywhere', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'read', region: 'east', readValue: null, version: '' }),
    ];
    expect(invariants(input(ops, both(live('east:1', 'a'))))).toEqual(['read-your-writes']);
  });

  it('a CAS acked with a version that does not follow its If-Match', () => {
    const ops = [
      op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' }),
      op({ kind: 'cas', region: 'east', value: 'b', ifMatch: 'east:1', version: 'east:1' }),
    ];
    expect(invariants(input(ops, both(live('east:1', 'b'))))).toContain('cas');
  });

  it('final record with the acked version but another value', () => {
    const ops = [op({ kind: 'write', region: 'east', value: 'a', version: 'east:1' })];
    expect(invariants(input(ops, both(live('east:1', 'zzz'))))).toEqual(['lost-write']);
  });
});

describe('split-brain on fence keyspaces (per partition, by epoch)', () => {
  // east owns orders.1 at epoch 0; the witness grants it to west at epoch 1 at t=1000 and back to east at epoch 2 at t=5000
  const grants: GrantRecord[] = [
    { atMs: 1000, keyspace: 'orders', partition: 1, fromOwner: 'east', toOwner: 'west', epoch: 1 },
    { atMs: 5000, keyspace: 'orders', partition: 1, fromOwner: 'west', toOwner: 'east', epoch: 2 },
  ];
  let n = 1;
  const ack = (region: string, invokeMs: number, completeMs: number, extra: Partial<Op> = {}): Op => ({
    id: n++, client: `c-${region}`, region, ackRegion: region, kind: 'write', keyspace: 'orders', key: `k${n}`, value: `v${n}`,
    version: `${region}:${n}`, partition: 'orders.1', invokeMs, completeMs, status: 'ok', ...extra,
  });
  const judge = (ops: Op[], g: GrantRecord[] = grants, slack?: number) => checkSplitBrain(ops, g, new Set(['orders']), slack);

  it('a clean failover and failback is not flagged', () => {
    const ops = [ack('east', 100, 110), ack('east', 700, 720), ack('west', 1300, 1310), ack('west', 4000, 4010), ack('east', 5200, 5210)];
    expect(judge(ops)).toEqual([]);
  });

  it('the old owner acknowledging after the new owner did is flagged, with the count and the gap', () => {
    // east's writes were queued behind its frozen Redis and answered after west's first ack
    const ops = [ack('east', 100, 110), ack('west', 1300, 1310), ack('east', 900, 1400), ack('east', 950, 1590)];
    const found = judge(ops);
    expect(found).toHaveLength(1);
    expect(found[0]!.lateAcks).toBe(2);
    expect(found[0]!.message).toMatch(/2 write\(s\) acknowledged by east after west acknowledged #\d+ at epoch 1: the first at epoch 0 90 ms later/);
  });

  it('within the completion slack the order is not judged; past it, it is', () => {
    const ops = [ack('west', 1300, 1310), ack('east', 900, 1340)];
    expect(judge(ops)).toEqual([]);
    expect(judge(ops, grants, 10)).toHaveLength(1);
  });

  it('an ack carrying its epoch is judged by it (a stale ack after a failback to the same region)', () => {
    const ops = [ack('west', 1300, 1310), ack('east', 5200, 5210)];
    expect(judge(ops)).toEqual([]); // bounds: east may hold epoch 2 by then
    expect(judge([ack('west', 1300, 1310), ack('east', 5200, 5210, { epoch: 0 })])).toHaveLength(1);
  });

  it('two regions at the same epoch, or a region the witness never granted, are flagged', () => {
    expect(judge([ack('east', 100, 110), ack('west', 300, 310)], [])).toHaveLength(1);
    const stranger = judge([ack('east', 100, 110), ack('south', 300, 310)]);
    expect(stranger[0]!.message).toMatch(/acknowledged by a region the witness never granted orders.1 \(south\)/);
  });

  it('different partitions, diverge keyspaces and failed or unknown writes are not judged', () => {
    const other = ack('east', 1500, 1510, { partition: 'orders.2' });
    const carts = ack('east', 1500, 1510, { keyspace: 'carts', partition: 'carts.1' });
    const unknown = ack('east', 1500, 1510, { status: 'unknown' });
    expect(judge([ack('west', 1300, 1310), other, carts, unknown])).toEqual([]);
  });

  it('is reported by checkHistory as split-brain with the partition as key', () => {
    const ops = [ack('west', 1300, 1310), ack('east', 900, 1500)];
    const finals = { east: Object.fromEntries(ops.map((o) => [`orders/${o.key}`, live(o.version!, o.value!)])), west: Object.fromEntries(ops.map((o) => [`orders/${o.key}`, live(o.version!, o.value!)])) };
    const i = { ...input(ops, finals), grants };
    const r = checkHistory(i);
    expect(r.violations.map((v) => [v.invariant, v.key])).toEqual([['split-brain', 'orders.1']]);
    expect(formatReport(r, ops)).toMatch(/\[split-brain\] orders.1: 1 write\(s\) acknowledged by east/);
    expect(checkHistory({ ...i, grants: undefined }).violations.map((v) => v.invariant)).toEqual(['split-brain']); // no grants: both at epoch 0
  });
});
