import type { Logger } from 'pino';
import type { GatewayConfig, KeyspaceConfig } from '../config.js';
import type { PartitionMap } from '../partition-map.js';
import type { ConflictStore, RegionStore } from '../store/index.js';
import type { WriteAuthority } from '../authority.js';
import type { GatewayMetrics } from '../metrics.js';
import type { AntiEntropy } from '../../replicator/anti-entropy/index.js';

/** The write path's link to the lease holder (present with a witness). */
export interface WriteGuard {
  /** A write of the partition starts (right after its authority check); call the result when it answered. */
  begin(keyspace: string, partition: number): () => void;
  /** The lease the write was checked under still holds: still ours, same epoch, not ended. */
  stillHolds(keyspace: string, partition: number, epoch: number): boolean;
}

/** What the HTTP layer needs from the region process; built once by the gateway. */
export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly maps: ReadonlyMap<string, PartitionMap>;
  readonly store: RegionStore;
  readonly conflicts: ConflictStore;
  readonly authority: WriteAuthority;
  readonly writeGuard?: WriteGuard | undefined;
  /** Region → public base URL, for 307 redirects. */
  readonly publicUrls: ReadonlyMap<string, string>;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Monotonic ms (the clock leases are measured on). */
  monoMs(): number;
  /** Wall ms: the clock expiries are read on (a version is absent from its expiry on). */
  nowMs(): number;
  /** Merkle anti-entropy (absent without peers or when disabled). */
  antiEntropy?: AntiEntropy | undefined;
  /** A local write was appended to the replication log at `seq`, as `packed` (wakes the senders). */
  onLocalWrite(seq: number, packed: Buffer): void;
  /** Resolves when the write may be acknowledged (sync replicas acked); throws UnavailableError when not. */
  afterWrite(keyspace: KeyspaceConfig, partition: number, seq: number): Promise<void>;
  /** Recent ownership changes seen by this region (newest last). */
  decisions(limit: number): unknown[];
  /** Extra sections of /v1/status from composed components (replication, ownership). */
  statusExtras(): Promise<Record<string, unknown>>;
  /** Accepted admin tokens, read at every request (a reload applies at once; empty: admin endpoints off). */
  adminTokens(): readonly string[];
  /** An operator request refused for its token (metric). */
  onAdminRefused?(reason: 'missing' | 'wrong'): void;
  /** Metrics of the coordinator role this instance runs now (its own registry per term), appended to /metrics. */
  roleMetrics?(): Promise<string>;
  /** How this region dials its peers and the witness (site-security.ts), for the cluster-wide reads. */
  readonly dial?: ClusterDial | undefined;
}

/** The peers' TLS (absent without `tls`) and the witness's transport, as the links and the ownership agent use them. */
export interface ClusterDial {
  readonly peerTls?: ((peer: string) => Record<string, unknown>) | undefined;
  readonly witness?: { secret: () => string; tls?: { options: () => Record<string, unknown>; version: () => number } | undefined } | undefined;
  /** Wall ms (signed requests carry it). */
  nowMs(): number;
}
