import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPacked, packChange, readPackedFields, unpackChange, unpackIdempotency } from './packed.js';
import type { ChangeRecord } from './types.js';

const base: ChangeRecord = {
  seq: 12, keyspace: 'carts', key: 'k-ü', partition: 3, bucket: 40,
  record: { vv: { east: 2, west: 1 }, hlc: [1_700_000_000_000, 7], origin: 'east', epoch: 5, tombstone: false, value: new Uint8Array([0, 255, 10]), contentType: 'application/octet-stream' },
};

/** Packs raw field texts as given (no canonicalisation), to forge bad input. */
function rawPacked(fields: (string | Uint8Array)[]): Buffer {
  const parts = fields.map((f) => (typeof f === 'string' ? Buffer.from(f) : Buffer.from(f)));
  return Buffer.concat(parts.flatMap((p) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.byteLength);
    return [len, p];
  }));
}
const good = ['12', 'carts', 'k', '3', '40', 'v', 'text/plain', 'east:2,west:1', '1700000000000.7', 'east', '5', '0'];

describe('packed changes', () => {
  it('round-trip every field, binary values intact', () => {
    const back = unpackChange(packChange(base));
    expect({ ...back, record: { ...back.record, value: [...back.record.value] } })
      .toEqual({ ...base, record: { ...base.record, value: [0, 255, 10] } });
    expect(checkPacked(rawPacked(good))).toBe(12);
  });

  it('round-trip any change (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const change = fc.record({
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), keyspace: name, key: fc.string({ maxLength: 40, unit: 'grapheme' }),
      partition: fc.nat(), bucket: fc.nat(),
      record: fc.record({
        vv: fc.dictionary(name, fc.integer({ min: 1, max: 1e9 }), { minKeys: 1, maxKeys: 4 }),
        hlc: fc.tuple(fc.nat(), fc.nat()), origin: name, epoch: fc.nat(), tombstone: fc.boolean(),
        value: fc.uint8Array({ maxLength: 64 }), contentType: fc.string({ maxLength: 20 }),
      }),
    });
    fc.assert(fc.property(change, (c) => {
      const back = unpackChange(packChange(c as ChangeRecord));
      expect(checkPacked(packChange(c as ChangeRecord))).toBe(c.seq);
      expect({ ...back, record: { ...back.record, value: [...back.record.value] } })
        .toEqual({ ...c, record: { ...c.record, vv: { ...c.record.vv }, value: [...c.record.value] } });
    }), { numRuns: 300 });
  });

  it('rejects each malformed field with its name', () => {
    const bad = (i: number, v: string) => checkPacked(rawPacked(good.map((f, j) => (j === i ? v : f))));
    expect(bad(0, '0')).toMatch(/^seq/);
    expect(bad(0, '01')).toMatch(/^seq/);
    expect(bad(0, '99999999999999999')).toMatch(/^seq/);
    expect(bad(1, '')).toMatch(/^keyspace/);
    expect(bad(1, 'Carts')).toMatch(/^keyspace/);
    expect(bad(2, 'x'.repeat(64 * 1024 + 1))).toMatch(/^key/);
    expect(bad(3, '-1')).toMatch(/^partition/);
    expect(bad(4, '1.5')).toMatch(/^bucket/);
    expect(bad(6, 'x'.repeat(257))).toMatch(/^contentType/);
    expect(bad(7, 'west:1,east:2')).toMatch(/^vv/); // not sorted: not canonical
    expect(bad(7, 'east:0')).toMatch(/^vv/);
    expect(bad(7, '')).toMatch(/^vv/);
    expect(bad(7, 'ea,st:1')).toMatch(/^vv/);
    expect(bad(8, '17')).toMatch(/^hlc/);
    expect(bad(8, '17.')).toMatch(/^hlc/);
    expect(bad(8, '.1')).toMatch(/^hlc/);
    expect(bad(7, 'east:1,')).toMatch(/^vv/);
    expect(bad(7, 'east:1,east:2')).toMatch(/^vv/);
    expect(bad(7, 'east:01')).toMatch(/^vv/);
    expect(checkPacked(rawPacked(good.map((f, j) => (j === 2 ? new Uint8Array([0x6b, 0xff]) : f))))).toMatch(/^key: not UTF-8/);
    expect(bad(9, '')).toMatch(/^origin/);
    expect(bad(9, '__proto__')).toMatch(/^origin/);
    expect(bad(7, '__proto__:1')).toMatch(/^vv/);
    expect(bad(10, 'x')).toMatch(/^epoch/);
    expect(bad(11, 'true')).toMatch(/^tombstone/);
  });

  it('rejects truncated, overlong and trailing bytes', () => {
    const ok = rawPacked(good);
    expect(checkPacked(ok.subarray(0, ok.byteLength - 1))).toMatch(/field 12/);
    expect(checkPacked(ok.subarray(0, 2))).toMatch(/field 1: truncated length/);
    expect(checkPacked(Buffer.concat([ok, Buffer.from([0])]))).toMatch(/trailing/);
    const lying = Buffer.from(ok);
    lying.writeUInt32BE(0xffffffff, 0);
    expect(checkPacked(lying)).toMatch(/announced/);
    expect(() => unpackChange(lying)).toThrow(/bad packed change/);
  });

  it('the idempotency trailer: round trip, absent without a key, each field checked', () => {
    const fp = 'a'.repeat(64);
    const withKey = packChange(base, { key: 'k-1', fingerprint: fp, created: true });
    expect(checkPacked(withKey)).toBe(12);
    expect(unpackIdempotency(withKey)).toEqual({ key: 'k-1', fingerprint: fp, created: true });
    expect(unpackChange(withKey).key).toBe('k-ü');
    expect(readPackedFields(withKey)).toMatchObject({ idempotencyKeyBytes: 3, fingerprintBytes: 64 });
    expect(unpackIdempotency(packChange(base))).toBeUndefined();
    expect(readPackedFields(packChange(base))).toMatchObject({ idempotencyKeyBytes: 0, fingerprintBytes: 0 });
    expect(checkPacked(rawPacked([...good, 'k', fp, '1']))).toBe(12);
    expect(checkPacked(rawPacked([...good, '', fp, '1']))).toMatch(/^idempotencyKey: not 1-128/);
    expect(checkPacked(rawPacked([...good, 'x'.repeat(129), fp, '1']))).toMatch(/^idempotencyKey: not 1-128/);
    expect(checkPacked(rawPacked([...good, 'a b', fp, '1']))).toMatch(/^idempotencyKey: not printable/);
    expect(checkPacked(rawPacked([...good, 'k', 'a'.repeat(63), '1']))).toMatch(/^fingerprint: not 64/);
    expect(checkPacked(rawPacked([...good, 'k', 'A'.repeat(64), '1']))).toMatch(/^fingerprint: not lowercase hex/);
    expect(checkPacked(rawPacked([...good, 'k', fp, '2']))).toMatch(/^created: not 0 or 1/);
    expect(checkPacked(rawPacked([...good, 'k', fp]))).toMatch(/^14 fields/);
    expect(checkPacked(rawPacked([...good, 'k', fp, '1', 'x']))).toMatch(/^expiresAtMs: not a positive integer/);
    expect(checkPacked(rawPacked([...good, 'k', fp, '1', '5', 'x']))).toMatch(/trailing/);
  });

  it('the expiry trailer: round trip alone and after the idempotency trailer, absent without an expiry, checked', () => {
    const fp = 'a'.repeat(64);
    const expiring: ChangeRecord = { ...base, record: { ...base.record, expiresAtMs: 1_700_000_060_000 } };
    const alone = packChange(expiring);
    expect(checkPacked(alone)).toBe(12);
    expect(unpackChange(alone).record.expiresAtMs).toBe(1_700_000_060_000);
    expect(unpackIdempotency(alone)).toBeUndefined();
    expect(readPackedFields(alone)).toMatchObject({ expiresAtMs: 1_700_000_060_000, idempotencyKeyBytes: 0 });
    const both = packChange(expiring, { key: 'k-1', fingerprint: fp, created: false });
    expect(unpackChange(both).record.expiresAtMs).toBe(1_700_000_060_000);
    expect(unpackIdempotency(both)).toEqual({ key: 'k-1', fingerprint: fp, created: false });
    expect(readPackedFields(both)).toMatchObject({ expiresAtMs: 1_700_000_060_000, idempotencyKeyBytes: 3 });
    expect(unpackChange(packChange(base)).record.expiresAtMs).toBeUndefined();
    expect(readPackedFields(packChange(base)).expiresAtMs).toBe(0);
    expect(checkPacked(rawPacked([...good, '0']))).toMatch(/^expiresAtMs: not a positive integer/);
    expect(checkPacked(rawPacked([...good, '017']))).toMatch(/^expiresAtMs/);
    expect(checkPacked(rawPacked([...good, 'soon']))).toMatch(/^expiresAtMs/);
    expect(checkPacked(rawPacked([...good, '5', '6']))).toMatch(/^14 fields/);
  });
});
