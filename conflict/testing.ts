import type { RecordVersion, VersionVector } from './types.js';

/** Builders for tests of code that handles record versions (shipped: tiny and pure). */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A version with sensible defaults: origin = first region of `vv`, hlc [1000, 0], epoch 1. */
export function version(vv: VersionVector, fields: Partial<Omit<RecordVersion, 'value'>> & { value?: string | Uint8Array } = {}): RecordVersion {
  const { value = '', ...rest } = fields;
  const tombstone = rest.tombstone ?? false;
  return {
    vv,
    hlc: [1000, 0],
    origin: Object.keys(vv)[0] ?? 'east',
    epoch: 1,
    contentType: 'application/json',
    ...rest,
    tombstone,
    value: tombstone ? new Uint8Array(0) : typeof value === 'string' ? encoder.encode(value) : value,
  };
}

/** A tombstone version. */
export function tombstone(vv: VersionVector, fields: Partial<Omit<RecordVersion, 'value' | 'tombstone'>> = {}): RecordVersion {
  return version(vv, { ...fields, tombstone: true });
}

export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
