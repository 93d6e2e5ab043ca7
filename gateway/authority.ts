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
  | { readonly kind: 'local'; readonly epoch: number; readonly fenced: boolean }
  | { readonly kind: 'redirect'; readonly region: string }
  | { readonly kind: 'unavailable'; readonly retryAfterMs: number; readonly reason: string };

export interface WriteAuthority {
  check(keyspace: KeyspaceConfig, partition: number): Authority;
  /** The partition's active region as this region knows it (for reads' staleness header). */
  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined;
  /** Partition state for /v1/status. */
  partitionState(keyspace: KeyspaceConfig, partition: number): string;
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

  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined {
    return this.maps.get(keyspace.name)?.nodeList(partition)[0]?.region;
  }

  partitionState(keyspace: KeyspaceConfig, partition: number): string {
    if (keyspace.writes === 'multi-master') return 'active';
    return this.activeRegion(keyspace, partition) === this.region ? 'active' : 'replicating';
  }
}
