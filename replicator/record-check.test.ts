import { describe, expect, it } from 'vitest';
import { packChange } from './packed.js';
import { createRecordCheck, EPOCH_MAX, type RecordBounds } from './record-check.js';
import type { ChangeRecord } from './types.js';

const NOW = 1_800_000_000_000;
/** A placement of 8 partitions, 64 buckets: the key's length decides both (a stand-in ring). */
const place = (key: Uint8Array) => ({ partition: key.byteLength % 8, bucket: key.byteLength % 64 });
const bounds: RecordBounds = {
  keyspaces: new Map([['carts', { partitions: 8, place }]]), merkleBuckets: 64, keyBytesMax: 32, valueBytesMax: 16,
  regions: ['east', 'west'], hlcAheadMsMax: 60_000, nowMs: () => NOW,
};
const good: ChangeRecord = {
  seq: 7, keyspace: 'carts', key: 'cart-1', partition: 6, bucket: 6,
  record: { vv: { east: 3 }, hlc: [NOW - 5, 0], origin: 'east', epoch: 4, tombstone: false, value: new Uint8Array([1, 2]), contentType: 'text/plain' },
};
const check = createRecordCheck(bounds);
const withRecord = (r: Partial<ChangeRecord['record']>): ChangeRecord => ({ ...good, record: { ...good.record, ...r } });

describe('record check: every field of a received record against local placement and bounds', () => {
  it('accepts a record that fits the local placement', () => {
    expect(check(packChange(good))).toBeNull();
    expect(check(packChange(good, { key: 'k'.repeat(128), fingerprint: 'f'.repeat(64), created: false }))).toBeNull();
    expect(check(packChange(withRecord({ hlc: [NOW + 60_000, 3] })))).toBeNull();
  });

  it.each<[string, ChangeRecord, string, RegExp]>([
    ['unknown keyspace', { ...good, keyspace: 'orders' }, 'keyspace', /keyspace orders is not configured here/],
    ['partition out of range', { ...good, partition: 8 }, 'partition', /partition 8 out of range \(8 partitions here\)/],
    ['partition the local ring does not give the key', { ...good, partition: 5 }, 'partition', /the key is in partition 6 here/],
    ['bucket out of range', { ...good, bucket: 64 }, 'bucket', /bucket 64 out of range \(64 Merkle buckets here\)/],
    ['bucket the local ring does not give the key', { ...good, bucket: 7 }, 'bucket', /the key is in bucket 6 here, not 7/],
    ['key over the local limit', { ...good, key: 'k'.repeat(33), partition: 33 % 8, bucket: 33 }, 'key-size', /key of 33 bytes over limits.keyBytesMax 32/],
    ['value over the local limit', withRecord({ value: new Uint8Array(17) }), 'value-size', /value of 17 bytes over limits.valueBytesMax 16/],
    ['origin not a cluster region', withRecord({ origin: 'mars' }), 'origin', /origin mars is not a cluster region/],
    ['HLC too far ahead of the local clock', withRecord({ hlc: [NOW + 60_001, 0] }), 'hlc-ahead', /60001 ms ahead of the local clock \(bound 60000 ms\)/],
    ['absurd epoch', withRecord({ epoch: EPOCH_MAX + 1 }), 'epoch', /epoch \d+ above/],
  ])('refuses %s, naming it', (_what, change, reason, message) => {
    const problem = check(packChange(change));
    expect(problem?.reason).toBe(reason);
    expect(problem?.message).toMatch(message);
    expect(problem?.message).toContain(`seq ${change.seq}`);
  });

  it('refuses an idempotency trailer over its bounds, naming it', () => {
    const long = check(packChange(good, { key: 'k'.repeat(129), fingerprint: 'f'.repeat(64), created: true }));
    expect(long).toMatchObject({ reason: 'idempotency', message: expect.stringMatching(/Idempotency-Key of 129 bytes over 128/) });
    const fp = check(packChange(good, { key: 'k', fingerprint: 'f'.repeat(65), created: true }));
    expect(fp).toMatchObject({ reason: 'idempotency', message: expect.stringMatching(/fingerprint of 65 bytes, not 64/) });
  });

  it('throws on bytes the codec would reject (the check runs after checkPacked)', () => {
    expect(() => check(new Uint8Array([0, 0, 0, 9, 1]))).toThrow(/bad packed change/);
  });
});
