/**
 * How a batch's partitions are grouped into script calls (`callGroups`): one call on a node
 * that owns every slot, one per partition when slots are owned apart; and the grouped calls'
 * KEYS and ARGV in the layout the scripts read (applyChanges-5.lua, collectTombstones-0.lua).
 */
import { describe, expect, it } from 'vitest';
import { StoreKeys } from './keys.js';
import { applyChangesCall, callGroups, collectTombstonesCall, groupByPartition } from './script-keys.js';
import { packEntry } from '../../replicator/packed.js';

const change = (key: string, partition: number, seq: number) => packEntry({ seq, keyspace: 'orders', key, partition, bucket: 2,
  record: { value: Buffer.from('v'), contentType: 'text/plain', vv: { west: seq }, hlc: [1, 0], origin: 'west', epoch: 0, tombstone: false } });

describe('callGroups: partitions into script calls by slot owner', () => {
  const batch = [change('a', 7, 1), change('b', 3, 2), change('c', 7, 3), change('d', 0, 4)];
  const parts = groupByPartition(batch);

  it('splits a batch per partition in the order of each one\'s first change', () => {
    expect(parts.map((g) => [g.partition, g.at])).toEqual([[7, [0, 2]], [3, [1]], [0, [3]]]);
  });

  it('single-node: every partition in one call; per-slot: one call per partition; none for none', () => {
    expect(callGroups(parts, 'single-node')).toEqual([parts]);
    expect(callGroups(parts, 'per-slot')).toEqual(parts.map((p) => [p]));
    expect(callGroups([], 'single-node')).toEqual([]);
    expect(callGroups([], 'per-slot')).toEqual([]);
  });

  it('an applyChanges call: per group its partition\'s 5 KEYS and 4 per change, its change count and changes', () => {
    const k = new StoreKeys('gg:', () => 0);
    const call = applyChangesCall(k, callGroups(parts, 'single-node')[0]!);
    expect(call.groupCount).toBe(3);
    expect(call.items.length).toBe(3 * 5 + 4 * 4);
    expect(call.items.slice(0, 5)).toEqual([k.appliedIn('orders', 7), k.hlc('orders', 7), k.partitionPending('orders', 7), k.digest('orders', 7), k.expiry('orders', 7)]);
    expect(call.items[5]).toBe(k.recordIn('orders', 7, 'a'));
    expect(call.items[13]).toBe(k.appliedIn('orders', 3));
    expect(call.rest.map((r) => (typeof r === 'number' ? r : 'change'))).toEqual([2, 'change', 'change', 1, 'change', 1, 'change']);
    expect(call.keys.applied).toBe(k.applied);
    // a change filed under another partition is a programmer error
    expect(() => applyChangesCall(k, [{ keyspace: 'orders', partition: 1, entries: [change('x', 2, 9)] }])).toThrow(/group of orders.1 holds a change of orders.2/);
  });

  it('a collectTombstones call: per group its 2 KEYS and 2 per item, its count, versions and keys', () => {
    const k = new StoreKeys('gg:', () => 0);
    const call = collectTombstonesCall(k, 'orders', [{ partition: 4, items: [['a', 4, 1, 'west:1'], ['b', 4, 2, 'west:2']] }, { partition: 9, items: [['c', 9, 3, 'west:3']] }]);
    expect(call.groupCount).toBe(2);
    expect(call.items).toEqual([k.partitionPending('orders', 4), k.digest('orders', 4), k.recordIn('orders', 4, 'a'), k.members('orders', 4, 1),
      k.recordIn('orders', 4, 'b'), k.members('orders', 4, 2), k.partitionPending('orders', 9), k.digest('orders', 9), k.recordIn('orders', 9, 'c'), k.members('orders', 9, 3)]);
    expect(call.rest).toEqual([2, 'west:1', 'west:2', 'a', 'b', 1, 'west:3', 'c']);
    expect(() => collectTombstonesCall(k, 'orders', [{ partition: 4, items: [['a', 5, 1, 'west:1']] }])).toThrow(/group of orders.4 holds a of partition 5/);
  });
});
