/**
 * The Merkle tree of one partition, built in memory from its bucket digests (the leaves,
 * kept up to date by the store's Lua on every write). Pure: no I/O, no clock.
 *
 * With B buckets and fan-out F the leaf level has F^D slots (D = smallest depth with
 * F^D >= B); slot b holds bucket b's 64-bit digest, slots past B are zero. An inner node is
 * the first 8 bytes of sha1 over its F children, or zero when every child is zero (an empty
 * subtree hashes the same everywhere). Level 0 is the root.
 */
import { createHash } from 'node:crypto';

export const HASH_BYTES = 8;
export const DEFAULT_FANOUT = 16;
export const FANOUT_MAX = 256;

export interface TreeShape {
  readonly buckets: number;
  readonly fanout: number;
  /** Depth of the leaf level (0 when there is a single bucket). */
  readonly depth: number;
}

export function treeShape(buckets: number, fanout = DEFAULT_FANOUT): TreeShape {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets ${buckets}`);
  if (!Number.isInteger(fanout) || fanout < 2 || fanout > FANOUT_MAX) throw new RangeError(`fanout ${fanout}`);
  let depth = 0;
  while (fanout ** depth < buckets) depth++;
  return { buckets, fanout, depth };
}

/** Number of nodes at `level`. */
export function levelWidth(shape: TreeShape, level: number): number {
  return shape.fanout ** level;
}

export class MerkleTree {
  /** levels[d] holds levelWidth(d) hashes of HASH_BYTES each. */
  private readonly levels: Buffer[];

  private constructor(readonly shape: TreeShape, levels: Buffer[]) {
    this.levels = levels;
  }

  /** Builds the tree from `bucket → 16 hex digits` (missing buckets are zero). */
  static fromDigests(shape: TreeShape, digests: Readonly<Record<string, string>>): MerkleTree {
    const leaves = Buffer.alloc(levelWidth(shape, shape.depth) * HASH_BYTES);
    for (const [field, hex] of Object.entries(digests)) {
      const b = Number(field);
      if (!Number.isInteger(b) || b < 0 || b >= shape.buckets || !/^[0-9a-f]{16}$/.test(hex)) continue;
      leaves.write(hex, b * HASH_BYTES, HASH_BYTES, 'hex');
    }
    const levels: Buffer[] = new Array<Buffer>(shape.depth + 1);
    levels[shape.depth] = leaves;
    for (let d = shape.depth - 1; d >= 0; d--) levels[d] = parentLevel(levels[d + 1]!, shape.fanout);
    return new MerkleTree(shape, levels);
  }

  root(): Buffer {
    return this.levels[0]!.subarray(0, HASH_BYTES);
  }

  /** Hashes of the children (level + 1) of each `parents` node at `level`, concatenated. */
  children(level: number, parents: readonly number[]): Buffer {
    const below = this.levels[level + 1];
    if (!below) throw new RangeError(`no level below ${level}`);
    const f = this.shape.fanout;
    const out = Buffer.alloc(parents.length * f * HASH_BYTES);
    parents.forEach((p, i) => {
      if (p < 0 || p >= levelWidth(this.shape, level)) throw new RangeError(`node ${p} outside level ${level}`);
      below.copy(out, i * f * HASH_BYTES, p * f * HASH_BYTES, (p + 1) * f * HASH_BYTES);
    });
    return out;
  }
}

function parentLevel(children: Buffer, fanout: number): Buffer {
  const width = children.length / HASH_BYTES / fanout;
  const out = Buffer.alloc(width * HASH_BYTES);
  const span = fanout * HASH_BYTES;
  for (let i = 0; i < width; i++) {
    const slice = children.subarray(i * span, (i + 1) * span);
    if (isZero(slice)) continue;
    createHash('sha1').update(slice).digest().copy(out, i * HASH_BYTES, 0, HASH_BYTES);
  }
  return out;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Given the children of `parents` (at level + 1) on both sides, the indexes of the
 * children that differ. `remote` must have the same length as `local`.
 */
export function differingChildren(shape: TreeShape, parents: readonly number[], local: Buffer, remote: Uint8Array): number[] {
  if (remote.byteLength !== local.length) throw new RangeError(`remote hashes ${remote.byteLength} bytes, expected ${local.length}`);
  const f = shape.fanout;
  const out: number[] = [];
  const r = Buffer.from(remote.buffer, remote.byteOffset, remote.byteLength);
  parents.forEach((p, i) => {
    for (let c = 0; c < f; c++) {
      const at = (i * f + c) * HASH_BYTES;
      if (local.compare(r, at, at + HASH_BYTES, at, at + HASH_BYTES) !== 0) out.push(p * f + c);
    }
  });
  return out;
}
