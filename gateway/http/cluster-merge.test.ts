import { describe, expect, it } from 'vitest';
import { mergeConflicts, mergeDecisions, parseSince, type RegionReply } from './cluster-routes.js';

const ok = (region: string, body: Record<string, unknown>): RegionReply => ({ region, url: `http://${region}`, ok: true, ms: 1, body });
const down: RegionReply = { region: 'south', url: 'http://south', ok: false, ms: 1000, error: 'timeout after 1000 ms' };

describe('mergeConflicts', () => {
  it('keeps one entry per conflictId (the first journal that has it; alsoIn the others), oldest first', () => {
    const r = mergeConflicts([
      ok('east', { conflicts: [{ id: '5-0', conflictId: 'b', at: '20' }, { id: '6-0', conflictId: 'a', at: '10' }] }),
      ok('west', { conflicts: [{ id: '9-0', conflictId: 'a', at: '11' }, { id: '9-1', conflictId: 'c', at: '30' }] }),
      down,
    ], undefined, 10);
    expect(r.conflicts.map((c) => [c.conflictId, c.region, c.alsoIn ?? null])).toEqual([['a', 'east', ['west']], ['b', 'east', null], ['c', 'west', null]]);
    expect(r.truncated).toBe(false);
  });
  it('drops entries before since, and cuts at limit saying so', () => {
    const r = mergeConflicts([ok('east', { conflicts: [{ conflictId: 'a', at: '10' }, { conflictId: 'b', at: '20' }, { conflictId: 'c', at: '30' }] })], 15, 1);
    expect(r.conflicts.map((c) => c.conflictId)).toEqual(['b']);
    expect(r.truncated).toBe(true);
  });
});

describe('mergeDecisions', () => {
  it('one line per keyspace/partition/epoch with the witness reason and who saw it; the newest limit', () => {
    const w = [{ atMs: 100, keyspace: 'orders', partition: 1, epoch: 2, fromOwner: 'west', toOwner: 'east', reason: 'owner-unreachable', detail: 'west silent', requester: 'east' }];
    const out = mergeDecisions([
      ok('east', { decisions: [{ at: 101, keyspace: 'orders', partition: 1, epoch: 2, owner: 'east', previous: 'west' }, { at: 50, keyspace: 'orders', partition: 0, epoch: 1, owner: 'east', previous: null }] }),
      ok('west', { decisions: [{ at: 102, keyspace: 'orders', partition: 1, epoch: 2, owner: 'east', previous: 'west' }] }),
      down,
    ], w, 10);
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({ keyspace: 'orders', partition: 1, epoch: 2, owner: 'east', reason: 'owner-unreachable', seenBy: ['witness', 'east', 'west'] });
    expect(out[0]).toMatchObject({ partition: 0, reason: null, seenBy: ['east'] });
    expect(mergeDecisions([ok('east', { decisions: [{ at: 1, keyspace: 'k', partition: 0, epoch: 1 }, { at: 2, keyspace: 'k', partition: 0, epoch: 2 }] })], [], 1).map((d) => d.epoch)).toEqual([2]);
  });
});

describe('parseSince', () => {
  it('takes ms or an ISO time; anything else is a 400 naming since', () => {
    expect(parseSince('1700000000000')).toBe(1700000000000);
    expect(parseSince('2026-01-02T03:04:05Z')).toBe(Date.parse('2026-01-02T03:04:05Z'));
    expect(parseSince(undefined)).toBeUndefined();
    expect(() => parseSince('yesterday')).toThrow(/since must be/);
  });
});
