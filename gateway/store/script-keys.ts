/**
 * The KEYS of every store script call, built in one place from the key layout (keys.ts): the
 * stores call the scripts with these, and the structural test (test/integration/key-slots.test.ts)
 * checks each against a real Redis Cluster (every key of a call in one slot, but the region-wide
 * ones listed in PER_WRITE_REGION_WIDE). Batch scripts take groups of partitions: a batch is
 * split per partition (`groupByPartition`), and `callGroups` decides which partitions go in one
 * call: all of them on one Redis (standalone, Sentinel), one call per slot on a Redis Cluster.
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

/**
 * Who owns the store's slots, so which partitions one script call may hold: `single-node` (a
 * standalone Redis or a Sentinel's master owns every slot: any partitions in one call),
 * `per-slot` (a Redis Cluster: a call's keys must share one slot; each partition's keys are
 * under its hash tag, so one call per partition).
 */
export type SlotOwners = 'single-node' | 'per-slot';

/**
 * The grouping of a batch's partitions into script calls, in one place: the partitions in
 * order, a call's groups in order. Every call is bounded by the batch it comes from (the
 * store's batch limits: APPLY_BATCH_RECORDS_MAX changes, the tombstone collector's items).
 */
export function callGroups<T>(partitions: readonly T[], owners: SlotOwners): T[][] {
  if (partitions.length === 0) return [];
  return owners === 'single-node' ? [[...partitions]] : partitions.map((p) => [p]);
}

/** One group of an applyChanges call: the keys of its partition, then 4 per change. */
function applyGroupKeys(k: StoreKeys, ks: string, partition: number, entries: readonly LogEntry[], items: string[], rest: (Buffer | number)[]) {
  items.push(k.appliedIn(ks, partition), k.hlc(ks, partition), k.partitionPending(ks, partition), k.digest(ks, partition), k.expiry(ks, partition));
  rest.push(entries.length);
  for (const e of entries) {
    const bytes = Buffer.isBuffer(e.bytes) ? e.bytes : Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    const f = readPackedFields(bytes);
    if (f.keyspace !== ks || f.partition !== partition) throw new Error(`applyChanges group of ${ks}.${partition} holds a change of ${f.keyspace}.${f.partition}`);
    const key = Buffer.from(f.key.buffer, f.key.byteOffset, f.key.byteLength).toString('utf8');
    const record = k.recordIn(ks, partition, key);
    const idem = f.idempotencyKeyBytes > 0 ? unpackIdempotency(bytes) : undefined;
    items.push(record, k.members(ks, partition, f.bucket), k.pendingIn(ks, partition, key),
      idem ? k.idempotency(idem.key) : record);
    rest.push(bytes);
  }
}

/**
 * One applyChanges call over groups of partitions: its fixed KEYS (region-wide), per group the
 * partition's 5 KEYS and 4 per change (`items`), and per group its change count and packed
 * changes (`rest`, after the fixed ARGV).
 */
export function applyChangesCall(k: StoreKeys, groups: readonly Pick<PartitionGroup, 'keyspace' | 'partition' | 'entries'>[]) {
  const items: string[] = [];
  const rest: (Buffer | number)[] = [];
  for (const g of groups) applyGroupKeys(k, g.keyspace, g.partition, g.entries, items, rest);
  return {
    keys: { pendingIndex: k.pendingIndex, idempotencyIndex: k.idempotencyIndex, idempotencyUnremembered: k.idempotencyUnremembered, coordinator: k.coordinator, applied: k.applied },
    items, rest, groupCount: groups.length,
  };
}

/** Tombstone items of one partition: [key, partition, bucket, version]. */
export type TombstoneItem = readonly [string, number, number, string];

/**
 * One collectTombstones call over groups of one keyspace's partitions: per group the
 * partition's 2 KEYS and 2 per item (`items`), and per group its item count, versions and keys
 * (`rest`).
 */
export function collectTombstonesCall(k: StoreKeys, ks: string, groups: readonly { readonly partition: number; readonly items: readonly TombstoneItem[] }[]) {
  const keys: string[] = [];
  const rest: (string | number)[] = [];
  for (const { partition, items } of groups) {
    keys.push(k.partitionPending(ks, partition), k.digest(ks, partition));
    for (const [key, p, bucket] of items) {
      if (p !== partition) throw new Error(`collectTombstones group of ${ks}.${partition} holds ${key} of partition ${p}`);
      keys.push(k.recordIn(ks, partition, key), k.members(ks, partition, bucket));
    }
    rest.push(items.length, ...items.map((t) => t[3]), ...items.map((t) => t[0]));
  }
  return { items: keys, rest, groupCount: groups.length };
}

export function readMembersItems(k: StoreKeys, ks: string, partition: number, buckets: readonly number[]): string[] {
  return buckets.map((b) => k.members(ks, partition, b));
}

export function readRecordsItems(k: StoreKeys, ks: string, partition: number, keys: readonly string[]): string[] {
  return keys.map((key) => k.recordIn(ks, partition, key));
}
