/**
 * Every field of a record received from a peer checked against the local placement and
 * bounds, after the codec checked its syntax (packed.ts `checkPacked`): a known keyspace, the
 * partition and Merkle bucket the local ring gives its key (so a peer with other partitions,
 * ring slots or buckets never writes leaves into the wrong digests), key and value within
 * the local limits, an origin that is a cluster region, an HLC wall time at most
 * `hlcAheadMsMax` ahead of the local clock, a sane epoch, an idempotency trailer within its
 * bounds (a key of at most 128 bytes, a 64-digit fingerprint). Pure: the clock is passed in.
 * The receiver (receiver.ts) applies the records that pass and reports the others.
 */
import { FINGERPRINT_CHARS, IDEMPOTENCY_KEY_CHARS_MAX, readPackedFields } from './packed.js';

/** No honest epoch gets near this (one increment per ownership change). */
export const EPOCH_MAX = 2 ** 48;
export const DEFAULT_HLC_AHEAD_MS_MAX = 60_000;

export interface RecordPlacement {
  readonly partitions: number;
  /** Where the local ring puts a key, given as its UTF-8 bytes. */
  place(key: Uint8Array): { readonly partition: number; readonly bucket: number };
}

export interface RecordBounds {
  readonly keyspaces: ReadonlyMap<string, RecordPlacement>;
  readonly merkleBuckets: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly regions: readonly string[];
  readonly hlcAheadMsMax: number;
  readonly nowMs: () => number;
}

export type RecordRejection = 'keyspace' | 'partition' | 'bucket' | 'key-size' | 'value-size' | 'origin' | 'hlc-ahead' | 'epoch' | 'idempotency';

export interface RecordProblem {
  readonly reason: RecordRejection;
  readonly message: string;
}

/** A check of one packed change: null when it may be applied, else why not. */
export type RecordCheck = (bytes: Uint8Array) => RecordProblem | null;

export function createRecordCheck(b: RecordBounds): RecordCheck {
  const regions = new Set(b.regions);
  return (bytes) => {
    const f = readPackedFields(bytes);
    const at = () => `seq ${f.seq} (${f.keyspace}/${f.partition})`; // only when refusing: this runs for every record
    const ks = b.keyspaces.get(f.keyspace);
    if (!ks) return problem('keyspace', `${at()}: keyspace ${f.keyspace} is not configured here`);
    if (f.partition >= ks.partitions) return problem('partition', `${at()}: partition ${f.partition} out of range (${ks.partitions} partitions here)`);
    if (f.key.byteLength > b.keyBytesMax) return problem('key-size', `${at()}: key of ${f.key.byteLength} bytes over limits.keyBytesMax ${b.keyBytesMax}`);
    if (f.valueBytes > b.valueBytesMax) return problem('value-size', `${at()}: value of ${f.valueBytes} bytes over limits.valueBytesMax ${b.valueBytesMax}`);
    if (f.bucket >= b.merkleBuckets) return problem('bucket', `${at()}: bucket ${f.bucket} out of range (${b.merkleBuckets} Merkle buckets here)`);
    const here = ks.place(f.key);
    if (here.partition !== f.partition) return problem('partition', `${at()}: the key is in partition ${here.partition} here`);
    if (here.bucket !== f.bucket) return problem('bucket', `${at()}: the key is in bucket ${here.bucket} here, not ${f.bucket}`);
    if (!regions.has(f.origin)) return problem('origin', `${at()}: origin ${f.origin} is not a cluster region`);
    if (f.epoch > EPOCH_MAX) return problem('epoch', `${at()}: epoch ${f.epoch} above ${EPOCH_MAX}`);
    // the idempotency trailer: the key within the header's bound, a sha256 fingerprint
    if (f.idempotencyKeyBytes > IDEMPOTENCY_KEY_CHARS_MAX) return problem('idempotency', `${at()}: Idempotency-Key of ${f.idempotencyKeyBytes} bytes over ${IDEMPOTENCY_KEY_CHARS_MAX}`);
    if (f.idempotencyKeyBytes > 0 && f.fingerprintBytes !== FINGERPRINT_CHARS) return problem('idempotency', `${at()}: request fingerprint of ${f.fingerprintBytes} bytes, not ${FINGERPRINT_CHARS}`);
    const aheadMs = f.hlcWallMs - b.nowMs();
    if (aheadMs > b.hlcAheadMsMax) return problem('hlc-ahead', `${at()}: HLC wall time ${aheadMs} ms ahead of the local clock (bound ${b.hlcAheadMsMax} ms)`);
    return null;
  };
}

function problem(reason: RecordRejection, message: string): RecordProblem {
  return { reason, message };
}
