import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FRAME_SCHEMAS, checkChanges } from './codec.js';

const validRecord = () => ({
  seq: 1, keyspace: 'carts', key: 'k', partition: 0, bucket: 3,
  record: { vv: { east: 2 }, hlc: [1700000000000, 0], origin: 'east', epoch: 0, tombstone: false, value: new Uint8Array([1, 2]), contentType: 'text/plain' },
});

const oddValues = [-1, 0, 1, 1.5, 2 ** 60, '', 'x', 'y'.repeat(300), null, true, [], {}, new Uint8Array(1), [1, 2], [1, -1]];
const paths = [
  ['v'], ['records'], ['records', 0], ['records', 0, 'seq'], ['records', 0, 'keyspace'], ['records', 0, 'key'],
  ['records', 0, 'partition'], ['records', 0, 'bucket'], ['records', 0, 'record'], ['records', 0, 'record', 'vv'],
  ['records', 0, 'record', 'vv', 'east'], ['records', 0, 'record', 'hlc'], ['records', 0, 'record', 'hlc', 1],
  ['records', 0, 'record', 'origin'], ['records', 0, 'record', 'epoch'], ['records', 0, 'record', 'tombstone'],
  ['records', 0, 'record', 'value'], ['records', 0, 'record', 'contentType'],
] as const;

function setPath(obj: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let at: Record<string | number, unknown> = obj;
  for (const step of path.slice(0, -1)) at = at[step] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
}

describe('CHANGES frame check', () => {
  it('accepts exactly what the reference schema accepts', () => {
    fc.assert(fc.property(fc.constantFrom(...paths), fc.constantFrom(...oddValues), fc.boolean(), (path, value, twoRecords) => {
      const frame: Record<string, unknown> = { t: 'changes', v: 1, records: twoRecords ? [validRecord(), validRecord()] : [validRecord()] };
      setPath(frame, path, value);
      expect(checkChanges(frame) === null).toBe(FRAME_SCHEMAS.changes.safeParse(frame).success);
    }), { numRuns: 2000 });
  });

  it('names the bad field', () => {
    const frame = { t: 'changes', v: 1, records: [validRecord(), { ...validRecord(), bucket: -1 }] };
    expect(checkChanges(frame)).toBe('records.1.bucket: not a non-negative integer');
    expect(checkChanges({ t: 'changes', v: 1, records: [validRecord()] })).toBeNull();
  });
});
