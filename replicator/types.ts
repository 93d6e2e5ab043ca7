import type { RecordVersion } from '../conflict/types.js';

/**
 * One change in a region's replication log. `seq` is the entry's position in the origin
 * region's log (strictly increasing, gap-free while the log is not trimmed).
 */
export interface ChangeRecord {
  readonly seq: number;
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  /** Merkle bucket of the key inside its partition. */
  readonly bucket: number;
  readonly record: RecordVersion;
}

/** What the sender needs from the local store: its own replication log. */
export interface LogSource {
  /** Up to `maxRecords` entries (and roughly `maxBytes`) with seq > `afterSeq`, in order. */
  read(afterSeq: number, maxRecords: number, maxBytes: number): Promise<ChangeRecord[]>;
  /** First and last seq currently held (firstSeq > afterSeq + 1 means entries were trimmed: a gap). */
  bounds(): Promise<{ firstSeq: number; lastSeq: number; length: number }>;
  /** Drops entries with seq <= `seq` (called with the minimum acked cursor of all peers). */
  trimThrough(seq: number): Promise<void>;
  /** This log's incarnation id (changes when the region's Redis starts empty). */
  incarnation(): Promise<string>;
}

export type ApplyOutcome = 'applied' | 'duplicate' | 'dominated' | 'conflict';

/** What the receiver needs from the local store. */
export interface ChangeSink {
  /**
   * Applies a batch from `origin` in ONE atomic store call; records with seq <= the last
   * applied seq for (origin, incarnation) are skipped. Returns one outcome per record.
   */
  apply(origin: string, incarnation: string, batch: readonly ChangeRecord[]): Promise<ApplyOutcome[]>;
  /** Last applied seq per origin for the given incarnation (0 when none). */
  appliedSeq(origin: string, incarnation: string): Promise<number>;
}
