/**
 * The Merkle tree of one partition, built in memory from its bucket digests (the leaves,
 * kept up to date by the store's Lua on every write). Pure: no I/O, no clock.
 *
 * With B buckets and fan-out F the leaf level has F^D slots (D = smallest depth with
 * F^D >= B); slot b holds bucket b's 64-bit digest, slots past B are zero. An inner node is
 * the first 8 bytes of sha1 over its F children, or zero when every child is zero (an empty
 * subtree hashes the same everywhere). Level 0 is the root.
 */
import { hash } from 'node:crypto';

export const HASH_BYTES = 8;
/**
 * Below the root, node hashes travel as 4 bytes: a mix of the 8-byte node with a salt
 * derived from the session round id. A collision hides a difference with probability 2^-32
 * per compared node, independently in every round (new salt), and the root is compared in
 * full, so a hidden difference is found by the next round. Halves the descent's bytes.
 */
export const WIRE_HASH_BYTES = 4;
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
    const leaves = Buffer.alloc(shape.buckets * HASH_BYTES);
    for (const [field, hex] of Object.entries(digests)) {
      const b = Number(field);
      if (!Number.isInteger(b) || b < 0 || b >= shape.buckets || !/^[0-9a-f]{16}$/.test(hex)) continue;
      leaves.write(hex, b * HASH_BYTES, HASH_BYTES, 'hex');
    }
    return MerkleTree.fromLeaves(shape, leaves);
  }

  /** Builds the tree from the packed leaves: HASH_BYTES per bucket, in bucket order. */
  static fromLeaves(shape: TreeShape, packed: Buffer): MerkleTree {
    if (packed.length !== shape.buckets * HASH_BYTES) throw new RangeError(`leaves ${packed.length} bytes, expected ${shape.buckets * HASH_BYTES}`);
    const leaves = Buffer.alloc(levelWidth(shape, shape.depth) * HASH_BYTES);
    packed.copy(leaves);
    const levels: Buffer[] = new Array<Buffer>(shape.depth + 1);
    levels[shape.depth] = leaves;
    for (let d = shape.depth - 1; d >= 0; d--) levels[d] = parentLevel(levels[d + 1]!, shape.fanout);
    return new MerkleTree(shape, levels);
  }

  /**
   * Replaces the digests of `buckets` (`packed`: HASH_BYTES each, in the order of
   * `buckets`) and recomputes only their ancestors.
   */
  update(buckets: readonly number[], packed: Buffer): void {
    if (packed.length !== buckets.length * HASH_BYTES) throw new RangeError(`digests ${packed.length} bytes for ${buckets.length} buckets`);
    const { depth, fanout } = this.shape;
    const leaves = this.levels[depth]!;
    let dirty = new Set<number>();
    buckets.forEach((b, i) => {
      if (!Number.isInteger(b) || b < 0 || b >= this.shape.buckets) throw new RangeError(`bucket ${b}`);
      packed.copy(leaves, b * HASH_BYTES, i * HASH_BYTES, (i + 1) * HASH_BYTES);
      dirty.add(Math.floor(b / fanout));
    });
    for (let d = depth - 1; d >= 0; d--) {
      const below = this.levels[d + 1]!;
      const level = this.levels[d]!;
      const up = new Set<number>();
      for (const node of dirty) {
        hashNode(below, fanout, node).copy(level, node * HASH_BYTES);
        up.add(Math.floor(node / fanout));
      }
      dirty = up;
    }
  }

  /** The leaf digests of `buckets`, HASH_BYTES each, in that order. */
  leaves(buckets: readonly number[]): Buffer {
    const leaves = this.levels[this.shape.depth]!;
    const out = Buffer.alloc(buckets.length * HASH_BYTES);
    buckets.forEach((b, i) => leaves.copy(out, i * HASH_BYTES, b * HASH_BYTES, (b + 1) * HASH_BYTES));
    return out;
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

const ZERO_NODE = Buffer.alloc(HASH_BYTES);

function parentLevel(children: Buffer, fanout: number): Buffer {
  const width = children.length / HASH_BYTES / fanout;
  const out = Buffer.alloc(width * HASH_BYTES);
  for (let i = 0; i < width; i++) hashNode(children, fanout, i).copy(out, i * HASH_BYTES);
  return out;
}

/** Node `node` of the level above `children`: first HASH_BYTES of sha1 over its children, zero when they all are. */
function hashNode(children: Buffer, fanout: number, node: number): Buffer {
  const span = fanout * HASH_BYTES;
  const slice = children.subarray(node * span, (node + 1) * span);
  if (isZero(slice)) return ZERO_NODE;
  return hash('sha1', slice, 'buffer').subarray(0, HASH_BYTES);
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Salt of one session round (two 32-bit words) from its id. */
export function roundSalt(sid: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < sid.length; i++) {
    a = Math.imul(a ^ sid.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ sid.charCodeAt(i), 0x01000193) >>> 0;
  }
  return [fmix32(a), fmix32(b ^ a)];
}

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The salted 4-byte wire form of consecutive 8-byte hashes (a zero node stays zero). */
export function toWire(hashes: Buffer, salt: readonly [number, number]): Buffer {
  const n = hashes.length / HASH_BYTES;
  const out = Buffer.alloc(n * WIRE_HASH_BYTES);
  for (let i = 0; i < n; i++) {
    const hi = hashes.readUInt32BE(i * HASH_BYTES);
    const lo = hashes.readUInt32BE(i * HASH_BYTES + 4);
    if (hi === 0 && lo === 0) continue;
    const m = fmix32((fmix32((hi ^ salt[0]) >>> 0) + Math.imul(lo ^ salt[1], 0x9e3779b1)) >>> 0) || 1;
    out.writeUInt32BE(m, i * WIRE_HASH_BYTES);
  }
  return out;
}

/**
 * Given the children of `parents` (at level + 1) on both sides, in the same form (8-byte
 * or wire form), the indexes of the children that differ. Lengths must be equal.
 */
export function differingChildren(shape: TreeShape, parents: readonly number[], local: Buffer, remote: Uint8Array): number[] {
  if (remote.byteLength !== local.length) throw new RangeError(`remote hashes ${remote.byteLength} bytes, expected ${local.length}`);
  const f = shape.fanout;
  const w = local.length / (parents.length * f);
  const out: number[] = [];
  const r = Buffer.from(remote.buffer, remote.byteOffset, remote.byteLength);
  parents.forEach((p, i) => {
    for (let c = 0; c < f; c++) {
      const at = (i * f + c) * w;
      if (local.compare(r, at, at + w, at, at + w) !== 0) out.push(p * f + c);
    }
  });
  return out;
}
