/**
 * The shared vocabulary of versions and conflicts. Pure types: every region, the store
 * wrappers, the replicator and the merge use these shapes.
 */

/** Version vector: region → number of writes that region made to this record. */
export type VersionVector = Readonly<Record<string, number>>;

/** Hybrid logical clock stamp: [wall milliseconds, logical counter]. */
export type Hlc = readonly [wallMs: number, logical: number];

/** Everything about a record version except its bytes. */
export interface RecordMeta {
  readonly vv: VersionVector;
  readonly hlc: Hlc;
  /** Region whose write produced this version. */
  readonly origin: string;
  /** Ownership epoch the writer held for the partition (0 when none). */
  readonly epoch: number;
  readonly tombstone: boolean;
  /**
   * The absolute wall time (ms) at which the version expires (absent: never). Part of the
   * version: set by a write (PUT ?ttl=, POST …/expire), replicated with it, carried by a
   * resolution that keeps this side's content. Reads answer 404 from that instant on.
   */
  readonly expiresAtMs?: number | undefined;
}

/** A full record version as stored and shipped. */
export interface RecordVersion extends RecordMeta {
  readonly value: Uint8Array;
  readonly contentType: string;
}

/** How two versions of one key relate (version-vector order). */
export type VvOrder = 'equal' | 'before' | 'after' | 'concurrent';

/** StreamBase's conflict types plus ours. */
export type ConflictType =
  | 'instance-added' // present on one side only: not a conflict, just copied
  | 'key-conflict' // created independently on both sides (no common ancestor)
  | 'state-conflict' // same instance updated on both sides
  | 'delete-vs-update' // deleted on one side, updated on the other
  | 'stale-epoch'; // written by a region whose ownership epoch was superseded (fence keyspaces)
