import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, packRaw, PROTOCOL_VERSION, type Frame } from './codec.js';
import { FrameTooLargeError } from './errors.js';
import { packEntry, unpackChange } from './packed.js';

const change = {
  seq: 7, keyspace: 'ks', key: 'k1', partition: 3, bucket: 11,
  record: { vv: { eu: 2, us: 1 }, hlc: [1_700_000_000_000, 3] as const, origin: 'eu', epoch: 4, tombstone: false, value: new Uint8Array([1, 2, 255]), contentType: 'application/octet-stream' },
};
const record = packEntry(change);

/** Decoded binaries are Buffers (a Uint8Array subclass); compare them as plain bytes. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const frames: Frame[] = [
  { t: 'hello', v: PROTOCOL_VERSION, region: 'eu', clusterId: 'c1', incarnation: 'i1', nonce: new Uint8Array(32).fill(9), applied: { us: 5 }, proof: null },
  { t: 'auth', v: PROTOCOL_VERSION, proof: new Uint8Array(32).fill(1), applied: { eu: 3 } },
  { t: 'changes', v: PROTOCOL_VERSION, records: [record] },
  { t: 'ack', v: PROTOCOL_VERSION, seq: 42 },
  { t: 'hb', v: PROTOCOL_VERSION, lagMs: 12, lagEntries: 3, queue: 1, loadPermille: 250, fenced: [1, 2] },
  { t: 'ctl', v: PROTOCOL_VERSION, topic: 'vote', body: { partition: 1, epoch: 9 } },
];

describe('codec', () => {
  it.each(frames.map((f) => [f.t, f] as const))('round-trips %s', (_t, frame) => {
    const result = decodeFrame(encodeFrame(frame));
    expect(result.ok).toBe(true);
    if (result.ok) expect(plain(result.frame)).toEqual(plain(frame));
  });

  it('keeps value bytes binary', () => {
    const result = decodeFrame(encodeFrame(frames[2]!));
    if (!result.ok || result.frame.t !== 'changes') throw new Error('decode failed');
    const back = unpackChange(result.frame.records[0]!.bytes);
    expect(back.record.value).toBeInstanceOf(Uint8Array);
    expect([...back.record.value]).toEqual([1, 2, 255]);
    expect(plain(back)).toEqual(plain(change));
  });

  it('keeps an idle heartbeat under 40 bytes', () => {
    const hb = encodeFrame({ t: 'hb', v: PROTOCOL_VERSION, lagMs: 0, lagEntries: 0, queue: 0, loadPermille: 0, fenced: [] });
    expect(hb.byteLength).toBeLessThanOrEqual(40);
  });

  it('returns typed errors for garbage, wrong version, bad shape and oversized frames', () => {
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0xc1, 0xff, 0x00]), 'malformed'],
      [packRaw([1, 2, 3]), 'shape'],
      [packRaw({ t: 'ack', v: 99, seq: 1 }), 'version'],
      [packRaw({ t: 'ack', v: PROTOCOL_VERSION, seq: -1 }), 'shape'],
      [packRaw({ t: 'nope', v: PROTOCOL_VERSION }), 'shape'],
      [packRaw({ t: 'changes', v: PROTOCOL_VERSION, records: [] }), 'shape'],
      [packRaw({ t: 'changes', v: PROTOCOL_VERSION, records: [change] }), 'shape'], // a map, not a packed change
      [packRaw({ t: 'changes', v: PROTOCOL_VERSION, records: [record.bytes.subarray(0, 20)] }), 'shape'], // truncated
      [packRaw({ t: 'hb', v: PROTOCOL_VERSION, l: 0, e: 0, q: 0, d: 0, f: new Array(5000).fill(1) }), 'shape'],
    ];
    for (const [bytes, kind] of cases) {
      const result = decodeFrame(bytes);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.name).toBe('FrameError');
        expect(result.error.kind).toBe(kind);
      }
    }
    const big = encodeFrame({ t: 'ctl', v: PROTOCOL_VERSION, topic: 'ae', body: new Uint8Array(2048) });
    const over = decodeFrame(big, 1024);
    expect(over.ok || over.error.kind).toBe('oversized');
  });

  it('never throws on random bytes', () => {
    let seed = 1;
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(1 + (i % 64)).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff);
      expect(() => decodeFrame(bytes)).not.toThrow();
    }
  });

  it('refuses to encode a frame over frameBytesMax', () => {
    expect(() => encodeFrame({ t: 'ctl', v: PROTOCOL_VERSION, topic: 'ae', body: new Uint8Array(4096) }, 1024)).toThrow(FrameTooLargeError);
  });
});
