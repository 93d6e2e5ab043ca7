/**
 * The KEYS of every store script call, built in one place from the key layout (keys.ts): the
 * stores call the scripts with these, and the structural test (test/integration/key-slots.test.ts)
 * checks each against a real Redis Cluster (every key of a call in one slot, but the region-wide
 * ones listed in PER_WRITE_REGION_WIDE). Batch scripts take one partition per call:
 * `groupByPartition` splits a batch.
 */
import { type LogEntry, readPackedFields, unpackIdempotency } from '../../replicator/packed.js';
import type { StoreKeys } from './keys.js';

export function putRecordKeys(k: StoreKeys, ks: string, partition: number, bucket: number, key: string, idempotencyKey?: string) {
  const record = k.recordIn(ks, partition, key);
  return {
    record, log: k.log, seq: k.seq, logBytes: k.logBytes, hlc: k.hlc(ks, partition),
    digest: k.digest(ks, partition), members: k.members(ks, partition, bucket), fence: k.fence(ks, partition), identity: k.identity,
    // any key of the partition will do without an Idempotency-Key: the script does not touch it then
    idempotency: idempotencyKey !== undefined ? k.idempotency(idempotencyKey) : record,
    idempotencyIndex: k.idempotencyIndex, expiryIndex: k.expiry(ks, partition),
  };
}

export function resolveConflictKeys(k: StoreKeys, ks: string, partition: number, bucket: number, key: string) {
  return {
    record: k.recordIn(ks, partition, key), log: k.log, seq: k.seq, logBytes: k.logBytes, hlc: k.hlc(ks, partition), digest: k.digest(ks, partition),
    members: k.members(ks, partition, bucket), pending: k.pendingIn(ks, partition, key), pendingIndex: k.pendingIndex,
    journal: k.journal, outbox: k.outbox, partitionPending: k.partitionPending(ks, partition), fence: k.fence(ks, partition),
    journalBytes: k.journalBytes, journalAcked: k.journalAcked, expiryIndex: k.expiry(ks, partition), coordinator: k.coordinator,
  };
}

export function reofferPendingKeys(k: StoreKeys, ks: string, partition: number, key: string) {
  return { pending: k.pendingIn(ks, partition, key), log: k.log, seq: k.seq, logBytes: k.logBytes, coordinator: k.coordinator };
}

export function trimLogKeys(k: StoreKeys) {
  return { log: k.log, logBytes: k.logBytes, incarnation: k.incarnation, coordinator: k.coordinator };
}

export function trimConflictsKeys(k: StoreKeys) {
  return { journal: k.journal, journalBytes: k.journalBytes, journalAcked: k.journalAcked, deadLetters: k.deadLetters, coordinator: k.coordinator };
}

/** The changes of one partition of a batch, with their places in the batch. */
export interface PartitionGroup {
  readonly keyspace: string;
  readonly partition: number;
  readonly entries: LogEntry[];
  readonly at: number[];
}

/** Splits a batch per (keyspace, partition), in the order of each one's first change. */
export function groupByPartition(batch: readonly LogEntry[]): PartitionGroup[] {
  const groups = new Map<string, PartitionGroup>();
  batch.forEach((e, i) => {
    const f = readPackedFields(e.bytes);
    const id = `${f.keyspace}\0${f.partition}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { keyspace: f.keyspace, partition: f.partition, entries: [], at: [] }));
    g.entries.push(e);
    g.at.push(i);
  });
  return [...groups.values()];
}

/** One applyChanges call of one partition: its fixed KEYS, the 4 item keys per change, the packed changes. */
export function applyChangesCall(k: StoreKeys, ks: string, partition: number, entries: readonly LogEntry[]) {
  const items: string[] = [];
  const packed: Buffer[] = [];
  for (const e of entries) {
    const bytes = Buffer.isBuffer(e.bytes) ? e.bytes : Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    const f = readPackedFields(bytes);
    if (f.keyspace !== ks || f.partition !== partition) throw new Error(`applyChanges call for ${ks}.${partition} holds a change of ${f.keyspace}.${f.partition}`);
    const key = Buffer.from(f.key.buffer, f.key.byteOffset, f.key.byteLength).toString('utf8');
    const record = k.recordIn(ks, partition, key);
    const idem = f.idempotencyKeyBytes > 0 ? unpackIdempotency(bytes) : undefined;
    items.push(record, k.members(ks, partition, f.bucket), k.pendingIn(ks, partition, key),
      idem ? k.idempotency(idem.key) : record);
    packed.push(bytes);
  }
  return {
    keys: {
      partitionApplied: k.appliedIn(ks, partition), hlc: k.hlc(ks, partition), partitionPending: k.partitionPending(ks, partition),
      pendingIndex: k.pendingIndex, digest: k.digest(ks, partition), idempotencyIndex: k.idempotencyIndex,
      idempotencyUnremembered: k.idempotencyUnremembered, expiryIndex: k.expiry(ks, partition), coordinator: k.coordinator,
    },
    items, packed,
  };
}

/** Tombstone items of one partition: [key, partition, bucket, version]. */
export function collectTombstonesCall(k: StoreKeys, ks: string, partition: number, items: readonly (readonly [string, number, number, string])[]) {
  const keys: string[] = [];
  for (const [key, p, bucket] of items) {
    if (p !== partition) throw new Error(`collectTombstones call for ${ks}.${partition} holds ${key} of partition ${p}`);
    keys.push(k.recordIn(ks, partition, key), k.members(ks, partition, bucket));
  }
  return { keys: { partitionPending: k.partitionPending(ks, partition), digest: k.digest(ks, partition) }, items: keys };
}

export function readMembersItems(k: StoreKeys, ks: string, partition: number, buckets: readonly number[]): string[] {
  return buckets.map((b) => k.members(ks, partition, b));
}

export function readRecordsItems(k: StoreKeys, ks: string, partition: number, keys: readonly string[]): string[] {
  return keys.map((key) => k.recordIn(ks, partition, key));
}
