/**
 * Key → partition → node list, per keyspace (StreamBase's data mapper). A consistent-hash
 * ring of `ringSlots` slots: each partition places virtual points on a 32-bit circle and a
 * slot belongs to the next point clockwise. Pure and deterministic: the same config maps
 * the same key to the same partition in every region.
 */
import type { KeyspaceConfig } from './config.js';

export const VIRTUAL_POINTS_PER_PARTITION = 64;

export interface NodeListEntry {
  readonly region: string;
  readonly replication: 'async' | 'sync';
}

export interface KeyPlacement {
  readonly partition: number;
  readonly bucket: number;
}

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text`, with a seed for independent hashes. */
export function hash32(text: string | Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32) so nearby keys spread over the ring
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const BUCKET_SEED = 0x9747b28c;

export class PartitionMap {
  private readonly slots: Uint16Array;
  private readonly nodeLists: readonly (readonly NodeListEntry[])[];

  constructor(readonly keyspace: KeyspaceConfig, regions: readonly string[], readonly merkleBuckets: number) {
    this.slots = buildRing(keyspace.name, keyspace.partitions, keyspace.ringSlots);
    const base: NodeListEntry[] = keyspace.nodes
      ? keyspace.nodes.map((n) => ({ region: n.region, replication: n.replication }))
      : regions.map((region) => ({ region, replication: 'async' as const }));
    this.nodeLists = Array.from({ length: keyspace.partitions }, (_, p) => {
      const shift = keyspace.rotateHomes ? p % base.length : 0;
      return Object.freeze([...base.slice(shift), ...base.slice(0, shift)]);
    });
  }

  place(key: string): KeyPlacement {
    return this.placeBytes(Buffer.from(key, 'utf8')); // encoded once for both hashes
  }

  /** `place` for a key given as its UTF-8 bytes (a received record's, not decoded). */
  placeBytes(bytes: Uint8Array): KeyPlacement {
    const slot = hash32(bytes) % this.slots.length;
    return { partition: this.slots[slot]!, bucket: hash32(bytes, BUCKET_SEED) % this.merkleBuckets };
  }

  /** Regions in priority order for a partition; the first is its home (preferred active). */
  nodeList(partition: number): readonly NodeListEntry[] {
    const list = this.nodeLists[partition];
    if (!list) throw new RangeError(`partition ${partition} out of range for ${this.keyspace.name}`);
    return list;
  }

  partitionName(partition: number): string {
    return `${this.keyspace.name}.${partition}`;
  }
}

function buildRing(keyspace: string, partitions: number, ringSlots: number): Uint16Array {
  const points: { at: number; partition: number }[] = [];
  for (let p = 0; p < partitions; p++) {
    for (let v = 0; v < VIRTUAL_POINTS_PER_PARTITION; v++) points.push({ at: hash32(`${keyspace}#${p}#${v}`), partition: p });
  }
  points.sort((a, b) => a.at - b.at || a.partition - b.partition);
  const slots = new Uint16Array(ringSlots);
  let j = 0;
  for (let s = 0; s < ringSlots; s++) {
    const at = Math.floor((s * 0x100000000) / ringSlots);
    while (j < points.length && points[j]!.at < at) j++;
    slots[s] = points[j % points.length]!.partition;
  }
  // every partition must own at least one slot, or some would never see a key: hand each
  // slot-less partition one slot of the partition that owns the most (deterministic)
  const counts = new Array<number>(partitions).fill(0);
  for (const p of slots) counts[p]!++;
  for (let p = 0; p < partitions; p++) {
    if (counts[p]! > 0) continue;
    let richest = 0;
    for (let q = 1; q < partitions; q++) if (counts[q]! > counts[richest]!) richest = q;
    const s = slots.indexOf(richest);
    slots[s] = p;
    counts[richest]!--;
    counts[p] = 1;
  }
  return slots;
}
