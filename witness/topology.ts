import { UnknownPartitionError } from './errors.js';

/** The witness's voter id (regions vote under their own names). */
export const WITNESS_VOTER = 'witness';
export const DEFAULT_VOTE_WEIGHT = 1;

export type OnSplit = 'fence' | 'diverge';

export interface KeyspaceSpec {
  readonly name: string;
  readonly partitions: number;
  readonly onSplit?: OnSplit;
  /** Node list per partition (regions in priority order); default: regions rotated. */
  readonly nodes?: readonly (readonly string[])[];
  /**
   * Regions that hold every acknowledged write of the keyspace's partitions owned elsewhere
   * (`replication: sync` in the gateways' node lists): a failover goes to one of them.
   */
  readonly sync?: readonly string[];
}

export interface PartitionSpec {
  readonly keyspace: string;
  readonly partition: number;
  readonly key: string;
  readonly nodes: readonly string[];
  readonly onSplit: OnSplit;
  /** Sync replicas of the partition, in node-list order. */
  readonly sync: readonly string[];
}

/** Regions, vote weights and partitions, shared by the witness and every region's agent. */
export interface Topology {
  readonly regions: readonly string[];
  readonly voters: readonly string[];
  readonly weights: ReadonlyMap<string, number>;
  readonly totalWeight: number;
  readonly partitions: ReadonlyMap<string, PartitionSpec>;
}

export interface TopologyInput {
  readonly regions: readonly string[];
  readonly keyspaces: readonly KeyspaceSpec[];
  readonly weights?: Readonly<Record<string, number>>;
}

export function partitionKey(keyspace: string, partition: number): string {
  return `${keyspace}/${partition}`;
}

/** Partition i's home is regions[i % n]; the rest follow in ring order. */
export function defaultNodeList(regions: readonly string[], partition: number): string[] {
  const n = regions.length;
  return regions.map((_, k) => regions[(partition + k) % n] as string);
}

export function buildTopology(input: TopologyInput): Topology {
  if (input.regions.length === 0) throw new Error('topology needs at least one region');
  if (input.regions.includes(WITNESS_VOTER)) throw new Error(`"${WITNESS_VOTER}" is reserved`);
  const voters = [...input.regions, WITNESS_VOTER];
  const weights = new Map<string, number>();
  for (const v of voters) weights.set(v, input.weights?.[v] ?? DEFAULT_VOTE_WEIGHT);
  const partitions = new Map<string, PartitionSpec>();
  for (const ks of input.keyspaces) {
    for (let p = 0; p < ks.partitions; p++) {
      const nodes = ks.nodes?.[p] ?? defaultNodeList(input.regions, p);
      for (const r of nodes) if (!input.regions.includes(r)) throw new Error(`${ks.name}/${p}: unknown region ${r}`);
      const key = partitionKey(ks.name, p);
      for (const r of ks.sync ?? []) if (!nodes.includes(r)) throw new Error(`${ks.name}/${p}: sync replica ${r} is not in the node list`);
      const sync = nodes.filter((r) => ks.sync?.includes(r));
      partitions.set(key, { keyspace: ks.name, partition: p, key, nodes, onSplit: ks.onSplit ?? 'fence', sync });
    }
  }
  let totalWeight = 0;
  for (const w of weights.values()) totalWeight += w;
  return { regions: input.regions, voters, weights, totalWeight, partitions };
}

export function getPartition(t: Topology, keyspace: string, partition: number): PartitionSpec {
  const spec = t.partitions.get(partitionKey(keyspace, partition));
  if (!spec) throw new UnknownPartitionError(keyspace, partition);
  return spec;
}

export function weightOf(t: Topology, voters: Iterable<string>): number {
  let sum = 0;
  for (const v of new Set(voters)) sum += t.weights.get(v) ?? 0;
  return sum;
}

/** Strict majority of the total vote weight: any two such sets share a voter. */
export function isMajority(t: Topology, weight: number): boolean {
  return weight * 2 > t.totalWeight;
}
