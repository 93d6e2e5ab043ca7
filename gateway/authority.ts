/**
 * Who may take a write for a partition, right now. The write path asks `check()` before it
 * touches the store. `StaticAuthority` is the answer without a witness: the first region of
 * the node list is the active region of a single-master partition; multi-master partitions
 * are written everywhere. The witness-backed authority (leases, epochs) replaces it when a
 * witness is configured.
 */
import type { KeyspaceConfig } from './config.js';
import type { PartitionMap } from './partition-map.js';

export type Authority =
  | {
    readonly kind: 'local'; readonly epoch: number; readonly fenced: boolean;
    /** With `fenced`: the lease's end (monotonic ms); no write is acknowledged at or after it. */
    readonly leaseEndMonoMs?: number;
  }
  | { readonly kind: 'redirect'; readonly region: string }
  | { readonly kind: 'unavailable'; readonly retryAfterMs: number; readonly reason: string; readonly code?: string };

export interface WriteAuthority {
  check(keyspace: KeyspaceConfig, partition: number): Authority;
  /** The partition's active region as this region knows it (for reads' staleness header). */
  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined;
  /** Partition state for /v1/status. */
  partitionState(keyspace: KeyspaceConfig, partition: number): string;
  /**
   * May this region resolve conflicts of the partition now? Exactly one region must: the
   * active region, and with a witness only while it holds a valid lease (a healed old owner
   * that has not yet learnt the new epoch must not resolve with its stale view).
   */
  mayResolve(keyspace: KeyspaceConfig, partition: number): boolean;
  /** The partition's current ownership epoch when known (stale-epoch detection in merges). */
  currentEpoch?(keyspace: KeyspaceConfig, partition: number): number | undefined;
}

export class StaticAuthority implements WriteAuthority {
  constructor(private readonly region: string, private readonly maps: ReadonlyMap<string, PartitionMap>) {}

  check(keyspace: KeyspaceConfig, partition: number): Authority {
    if (keyspace.writes === 'multi-master') return { kind: 'local', epoch: 0, fenced: false };
    const home = this.activeRegion(keyspace, partition);
    if (home === this.region) return { kind: 'local', epoch: 0, fenced: false };
    return { kind: 'redirect', region: home ?? '' };
  }

  mayResolve(keyspace: KeyspaceConfig, partition: number): boolean {
    return this.activeRegion(keyspace, partition) === this.region;
  }

  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined {
    return this.maps.get(keyspace.name)?.nodeList(partition)[0]?.region;
  }

  partitionState(keyspace: KeyspaceConfig, partition: number): string {
    if (keyspace.writes === 'multi-master') return 'active';
    return this.activeRegion(keyspace, partition) === this.region ? 'active' : 'replicating';
  }
}
