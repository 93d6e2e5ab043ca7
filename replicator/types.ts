import type { RecordVersion } from '../conflict/types.js';
import type { LogEntry } from './packed.js';

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
  /** Up to `maxRecords` entries (and roughly `maxBytes`) with seq > `afterSeq`, in order, packed. */
  read(afterSeq: number, maxRecords: number, maxBytes: number): Promise<LogEntry[]>;
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
  apply(origin: string, incarnation: string, batch: readonly LogEntry[]): Promise<ApplyOutcome[]>;
  /** Last applied seq per origin for the given incarnation (0 when none). */
  appliedSeq(origin: string, incarnation: string): Promise<number>;
}

/** Life of the link to one peer, as seen from this region. */
export type LinkState = 'idle' | 'connecting' | 'handshaking' | 'established' | 'backoff' | 'stopped';

/** Health a peer reported in its last HEARTBEAT. */
export interface PeerHealth {
  readonly lagMs: number;
  readonly lagEntries: number;
  readonly queue: number;
  readonly loadPermille: number;
  readonly fenced: readonly number[];
}

/** One row of `Replicator.status()`. */
export interface PeerStatus {
  readonly region: string;
  /** Failure detector state. */
  readonly state: 'up' | 'suspect' | 'down';
  readonly linkState: LinkState;
  /** True when this region dials the peer (the smaller region name dials). */
  readonly dialer: boolean;
  /** Milliseconds the peer has been behind this region's log head (0 when caught up). */
  readonly lagMs: number;
  /** Entries of this region's log the peer has not acked. */
  readonly lagEntries: number;
  /** Highest seq of this region's log the peer acked (null: not known since start). */
  readonly ackedSeq: number | null;
  readonly inflightBatches: number;
  /** Milliseconds since any frame from the peer (null: never heard). */
  readonly heartbeatAgeMs: number | null;
  /** Round trip of the established link in ms, from its probe (heartbeat.ts); null until measured or without a link. */
  readonly rttMs?: number | null;
  /** The peer's cursor fell behind the trimmed log: it needs anti-entropy repair. */
  readonly needsRepair: boolean;
  /** What the peer last reported about itself (null: no heartbeat yet). */
  readonly remote: PeerHealth | null;
  readonly lastCloseReason: string | null;
}
