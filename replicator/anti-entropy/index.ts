/** Public entry of anti-entropy: Merkle exchange over the replicator's `ae` control topic. */
export { AntiEntropy, type AntiEntropyDeps } from './anti-entropy.js';
export { parseAntiEntropyOptions, antiEntropyOptionsSchema, type AntiEntropyTunables, type AntiEntropyLimits } from './options.js';
export * from './options.js';
export { AE_TOPIC, TOMB_HOLDS, TOMB_ABSENT, TOMB_NEWER, TOMB_OTHER, parseMessage, type WireRecord } from './messages.js';
export { MerkleTree, treeShape, differingChildren, roundSalt, toWire, DEFAULT_FANOUT, HASH_BYTES, WIRE_HASH_BYTES, type TreeShape } from './tree.js';
export { diffVersions, type KeyDiff } from './diff.js';
export { bodyBytes } from './rpc.js';
export {
  AntiEntropyError, type AeStore, type AeLinks, type AePlacement, type TombstoneCandidate, type OutcomeCounts,
  type PartitionRepairStats, type RepairAllStats, type TombstoneGcStats,
} from './types.js';
