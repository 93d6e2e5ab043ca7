import type { ConflictType, RecordMeta, VersionVector } from './types.js';
import { compareVv } from './vv.js';

/**
 * What a concurrent pair is. The `ConflictType`s plus `delete-vs-delete`: both sides are
 * tombstones. That is not a conflict (both agree the key is gone; nothing can be lost), but
 * the two vectors still differ, so a version dominating both must be written or the regions
 * would keep different vectors for the same state forever (and Merkle digests would never
 * agree). It is resolved like a conflict into a tombstone and never journaled.
 */
export type ConcurrentType = Exclude<ConflictType, 'instance-added'> | 'delete-vs-delete';

export type Classification =
  /** Store `incoming`. `type` is set when the key was absent here and `incoming` is live. */
  | { readonly action: 'apply'; readonly order: 'absent' | 'after'; readonly type?: 'instance-added' }
  /** Already have it (`equal`) or something newer (`before`: incoming happened before current). */
  | { readonly action: 'drop'; readonly order: 'equal' | 'before' }
  /** Concurrent: run the keyspace's resolver. `journal` is false only for `delete-vs-delete`. */
  | { readonly action: 'resolve'; readonly order: 'concurrent'; readonly type: ConcurrentType; readonly journal: boolean };

export interface ClassifyOptions {
  /**
   * Only for `onSplit: fence` keyspaces: the partition's current ownership epoch. A concurrent
   * pair where exactly one side was written at an older epoch is a `stale-epoch` conflict.
   */
  readonly fenceEpoch?: number;
}

/**
 * Classifies `incoming` against the version stored here (`current`, undefined when the key
 * is absent). Checks for a concurrent pair, first match wins:
 *  1. both tombstones            → delete-vs-delete (not journaled)
 *  2. exactly one side stale     → stale-epoch      (fence keyspaces, see ClassifyOptions)
 *  3. exactly one side tombstone → delete-vs-update
 *  4. no shared history          → key-conflict     (pointwise minimum of the vectors is 0)
 *  5. otherwise                  → state-conflict
 * The type of a concurrent pair never depends on which side is `current`.
 */
export function classify(current: RecordMeta | undefined, incoming: RecordMeta, options: ClassifyOptions = {}): Classification {
  if (current === undefined) {
    return incoming.tombstone ? { action: 'apply', order: 'absent' } : { action: 'apply', order: 'absent', type: 'instance-added' };
  }
  const order = compareVv(incoming.vv, current.vv);
  if (order === 'after') return { action: 'apply', order };
  if (order !== 'concurrent') return { action: 'drop', order };
  const type = concurrentType(current, incoming, options.fenceEpoch);
  return { action: 'resolve', order, type, journal: type !== 'delete-vs-delete' };
}

function concurrentType(a: RecordMeta, b: RecordMeta, fenceEpoch: number | undefined): ConcurrentType {
  if (a.tombstone && b.tombstone) return 'delete-vs-delete';
  if (fenceEpoch !== undefined && a.epoch < fenceEpoch !== b.epoch < fenceEpoch) return 'stale-epoch';
  if (a.tombstone !== b.tombstone) return 'delete-vs-update';
  return shareHistory(a.vv, b.vv) ? 'state-conflict' : 'key-conflict';
}

/** True when some region's writes are in both vectors (their pointwise minimum is not all zero). */
export function shareHistory(a: VersionVector, b: VersionVector): boolean {
  return Object.keys(a).some((region) => Math.min(a[region] ?? 0, b[region] ?? 0) > 0);
}
