import { describe, expect, it } from 'vitest';
import { classify, shareHistory } from './classify.js';
import { tombstone, version } from './testing.js';

describe('classify', () => {
  it('absent key: a live incoming version is instance-added, a tombstone is applied untyped', () => {
    expect(classify(undefined, version({ east: 1 }))).toEqual({ action: 'apply', order: 'absent', type: 'instance-added' });
    expect(classify(undefined, tombstone({ east: 2 }))).toEqual({ action: 'apply', order: 'absent' });
  });

  it('applies an incoming version that dominates, drops an equal or dominated one', () => {
    const cur = version({ east: 2, west: 1 });
    expect(classify(cur, version({ east: 3, west: 1 }))).toEqual({ action: 'apply', order: 'after' });
    expect(classify(cur, version({ east: 2, west: 1 }))).toEqual({ action: 'drop', order: 'equal' });
    expect(classify(cur, version({ east: 1, west: 1 }))).toEqual({ action: 'drop', order: 'before' });
    expect(classify(tombstone({ east: 2 }), version({ east: 3 }))).toEqual({ action: 'apply', order: 'after' });
  });

  it('concurrent with shared history is a state-conflict', () => {
    const c = classify(version({ east: 2, west: 1 }), version({ east: 1, west: 2 }));
    expect(c).toEqual({ action: 'resolve', order: 'concurrent', type: 'state-conflict', journal: true });
  });

  it('concurrent with no shared history (pointwise minimum all zero) is a key-conflict', () => {
    expect(classify(version({ east: 3 }), version({ west: 1 }))).toMatchObject({ action: 'resolve', type: 'key-conflict' });
    expect(shareHistory({ east: 3, west: 0 }, { west: 1, east: 0 })).toBe(false);
    expect(shareHistory({ east: 3, west: 1 }, { west: 1 })).toBe(true);
  });

  it('one tombstone is delete-vs-update, whichever side it is on', () => {
    const live = version({ east: 2, west: 1 });
    const dead = tombstone({ east: 1, west: 2 });
    expect(classify(live, dead)).toMatchObject({ type: 'delete-vs-update', journal: true });
    expect(classify(dead, live)).toMatchObject({ type: 'delete-vs-update', journal: true });
    // also when the two never shared history: the delete is what matters
    expect(classify(version({ east: 1 }), tombstone({ west: 2 }))).toMatchObject({ type: 'delete-vs-update' });
  });

  it('two concurrent tombstones are delete-vs-delete: resolved, never journaled', () => {
    const c = classify(tombstone({ east: 2, west: 1 }), tombstone({ east: 1, west: 2 }));
    expect(c).toEqual({ action: 'resolve', order: 'concurrent', type: 'delete-vs-delete', journal: false });
    // even when exactly one of them is stale on a fence keyspace: nothing to choose between
    const stale = tombstone({ west: 3 }, { epoch: 1 });
    expect(classify(tombstone({ east: 1 }, { epoch: 2 }), stale, { fenceEpoch: 2 })).toMatchObject({ type: 'delete-vs-delete' });
  });

  it('stale-epoch: exactly one side older than the fence epoch; it outranks the other types', () => {
    const fresh = version({ east: 2, west: 1 }, { epoch: 5 });
    const stale = version({ east: 1, west: 2 }, { epoch: 4 });
    expect(classify(fresh, stale, { fenceEpoch: 5 })).toMatchObject({ type: 'stale-epoch', journal: true });
    expect(classify(stale, fresh, { fenceEpoch: 5 })).toMatchObject({ type: 'stale-epoch' });
    const staleDelete = tombstone({ west: 9 }, { epoch: 4 });
    expect(classify(fresh, staleDelete, { fenceEpoch: 5 })).toMatchObject({ type: 'stale-epoch' });
  });

  it('stale-epoch needs a fence epoch and exactly one stale side', () => {
    const a = version({ east: 2, west: 1 }, { epoch: 3 });
    const b = version({ east: 1, west: 2 }, { epoch: 4 });
    expect(classify(a, b)).toMatchObject({ type: 'state-conflict' }); // not a fence keyspace
    expect(classify(a, b, { fenceEpoch: 7 })).toMatchObject({ type: 'state-conflict' }); // both stale
    expect(classify(a, b, { fenceEpoch: 3 })).toMatchObject({ type: 'state-conflict' }); // neither stale
    // a fence epoch changes nothing for ordered pairs
    expect(classify(a, version({ east: 3, west: 1 }, { epoch: 1 }), { fenceEpoch: 5 })).toEqual({ action: 'apply', order: 'after' });
  });
});
