/** Contracts of anti-entropy toward the store, the replicator and the partition maps; result shapes. */
import type { ChangeRecord, ApplyOutcome, PeerStatus } from '../types.js';
import type { ControlHandler } from '../control.js';
import type { NeedsRepairListener, PeerStateListener } from '../replicator.js';
import type { WireRecord } from './messages.js';

/** A tombstone this region holds, old enough to be considered for collection. */
export interface TombstoneCandidate {
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  readonly bucket: number;
  readonly version: string;
}

/** What anti-entropy needs from the region's store (gateway/store/merkle-store.ts implements it). */
export interface AeStore {
  /** Every bucket digest of one partition, packed: 8 bytes per bucket in bucket order (missing = zero). */
  leaves(keyspace: string, partition: number, buckets: number): Promise<Buffer>;
  /** The digests of `buckets`, packed like `leaves`, in the order of `buckets`. */
  leafDigests(keyspace: string, partition: number, buckets: readonly number[]): Promise<Buffer>;
  /** One HSCAN step over a bucket's members (key → version text). */
  scanMembers(keyspace: string, partition: number, bucket: number, cursor: string, count: number): Promise<{ cursor: string; keys: string[]; versions: string[] }>;
  /**
   * Members (key → version text) of a prefix of `buckets` (at least one bucket; it stops
   * before the bucket that would take the entries read past `entriesMax`), or null for a
   * bucket holding more than `entriesMax` keys (read it with `scanMembers` instead).
   */
  bucketMembers(keyspace: string, partition: number, buckets: readonly number[], entriesMax: number): Promise<(Map<string, string> | null)[]>;
  /** Full records (null when absent), in the order of `keys`. */
  readRecords(keyspace: string, keys: readonly string[]): Promise<(WireRecord | null)[]>;
  /** Applies versions through the replication version comparison (concurrent → pending conflict). */
  applyVersions(records: readonly ChangeRecord[]): Promise<ApplyOutcome[]>;
  /** TOMB_* code per (key, version). */
  tombstoneStates(keyspace: string, items: readonly (readonly [string, string])[]): Promise<number[]>;
  /** Deletes each tombstone that is still exactly (key, version), keeping digests and members in step; TOMB_* code per item. */
  collectTombstones(keyspace: string, items: readonly (readonly [string, number, number, string])[]): Promise<number[]>;
  /** One bounded SCAN step for tombstones whose HLC wall time is below `olderThanWallMs`. */
  scanTombstones(cursor: string, count: number, olderThanWallMs: number): Promise<{ cursor: string; items: TombstoneCandidate[] }>;
}

/** The part of `Replicator` anti-entropy uses (a loopback fake in benchmarks). */
export interface AeLinks {
  registerTopic(topic: string, handler: ControlHandler): () => void;
  sendControl(peer: string, topic: string, body: unknown): boolean;
  status(): PeerStatus[];
  onNeedsRepair(listener: NeedsRepairListener): () => void;
  onPeerState(listener: PeerStateListener): () => void;
  /** Clears the needs-repair mark, only if it is still `mark` (when given). */
  clearNeedsRepair(peer: string, mark?: string | null): void;
  /** The peer's current needs-repair mark (a repair clears only the mark it began under). */
  repairMark?(peer: string): string | null;
}

/** `peer`'s status on the links (undefined: not a peer). */
export function peerStatus(links: Pick<AeLinks, 'status'>, peer: string): PeerStatus | undefined {
  return links.status().find((s) => s.region === peer);
}

/** Where keys live (gateway/partition-map.ts `PartitionMap` fits). */
export interface AePlacement {
  readonly keyspace: { readonly name: string; readonly partitions: number };
  readonly merkleBuckets: number;
  place(key: string): { partition: number; bucket: number };
  nodeList(partition: number): readonly { readonly region: string }[];
}

export interface OutcomeCounts {
  applied: number;
  conflict: number;
  dominated: number;
  duplicate: number;
  rejected: number;
}

export interface PartitionRepairStats {
  readonly peer: string;
  readonly keyspace: string;
  readonly partition: number;
  readonly mode: 'both' | 'pull';
  rounds: number;
  differingBuckets: number;
  keysCompared: number;
  /** Versions fetched from the peer and applied here. */
  readonly pulled: OutcomeCounts;
  /** Versions the peer fetched from here (reported by the peer). */
  readonly pushed: OutcomeCounts;
  /** Anti-entropy bytes this region sent / received for this session (msgpack frames). */
  bytesSent: number;
  bytesReceived: number;
  /** Bytes the peer exchanged while pulling our versions (its side of `push`). */
  peerBytes: number;
  /** Roots equal at the end of the session. */
  converged: boolean;
  durationMs: number;
}

export interface RepairAllStats {
  readonly peer: string;
  readonly partitions: number;
  readonly converged: number;
  readonly failed: number;
  readonly pulled: OutcomeCounts;
  readonly pushed: OutcomeCounts;
  readonly bytes: number;
  readonly errors: string[];
}

export interface TombstoneGcStats {
  /** Why nothing was attempted (null when a batch was examined). */
  readonly skipped: string | null;
  readonly scanned: number;
  readonly candidates: number;
  readonly collected: number;
}

export function zeroCounts(): OutcomeCounts {
  return { applied: 0, conflict: 0, dominated: 0, duplicate: 0, rejected: 0 };
}

export function addCounts(into: OutcomeCounts, from: Partial<OutcomeCounts>): void {
  into.applied += from.applied ?? 0;
  into.conflict += from.conflict ?? 0;
  into.dominated += from.dominated ?? 0;
  into.duplicate += from.duplicate ?? 0;
  into.rejected += from.rejected ?? 0;
}

/** A peer did not answer (link down, timeout after retries, busy) or answered with an error. */
export class AntiEntropyError extends Error {
  override readonly name = 'AntiEntropyError';
  constructor(readonly peer: string, readonly code: string, message: string) {
    super(`anti-entropy with ${peer}: ${message}`);
  }
}
