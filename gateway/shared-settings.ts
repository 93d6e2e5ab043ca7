/**
 * This region's side of the settings the voters and the peers must agree on
 * (witness/shared-settings.ts): built from the gateway config and the partition maps (node
 * lists as resolved, rotation applied), compared at the witness handshake (voter subset)
 * and at the link handshake (everything). Pure.
 */
import { canonicalSettings, SETTINGS_VERSION, voteWeights, type SharedSettings } from '../witness/index.js';
import type { GatewayConfig } from './config.js';
import type { PartitionMap } from './partition-map.js';

export function gatewaySettings(config: GatewayConfig, maps: ReadonlyMap<string, PartitionMap>): SharedSettings {
  const regions = config.cluster.regions;
  return canonicalSettings({
    v: SETTINGS_VERSION,
    leaseMs: config.lease.leaseMs,
    driftMarginMs: config.lease.driftMarginMs,
    regions,
    // the gateways have no weights setting: their agents count every voter as DEFAULT_VOTE_WEIGHT
    weights: voteWeights(regions),
    merkleBuckets: config.merkle.buckets,
    keyspaces: config.keyspaces.map((ks) => {
      const map = maps.get(ks.name);
      if (!map) throw new Error(`no partition map for keyspace ${ks.name}`);
      return {
        name: ks.name, partitions: ks.partitions, onSplit: ks.onSplit, ringSlots: ks.ringSlots, resolver: ks.resolver, writes: ks.writes,
        nodes: Array.from({ length: ks.partitions }, (_, p) => map.nodeList(p).map((n) => n.region)),
        sync: (ks.nodes ?? []).filter((n) => n.replication === 'sync').map((n) => n.region),
      };
    }),
  });
}
