import { describe, expect, it } from 'vitest';
import { MerkleTree, differingChildren, roundSalt, toWire, treeShape } from './tree.js';
import { diffVersions } from './diff.js';

const hex = (n: number) => n.toString(16).padStart(16, '0');

function descend(a: MerkleTree, b: MerkleTree, sid: string): number[] {
  const shape = a.shape;
  if (a.root().equals(b.root())) return [];
  let frontier = [0];
  for (let lv = 0; lv < shape.depth; lv++) {
    const salt = roundSalt(sid);
    frontier = differingChildren(shape, frontier, toWire(a.children(lv, frontier), salt), toWire(b.children(lv, frontier), salt));
  }
  return frontier.filter((x) => x < shape.buckets);
}

describe('merkle tree', () => {
  it('finds exactly the differing buckets, and zero/missing leaves are equal', () => {
    const shape = treeShape(1000, 16);
    expect(shape.depth).toBe(3);
    const base: Record<string, string> = {};
    for (let b = 0; b < 1000; b += 3) base[String(b)] = hex(b * 7919 + 1);
    const other: Record<string, string> = { ...base, '5': hex(42), '999': hex(1), '3': '0000000000000000' };
    delete other['0'];
    const a = MerkleTree.fromDigests(shape, base);
    const b = MerkleTree.fromDigests(shape, other);
    expect(descend(a, b, 's1').sort((x, y) => x - y)).toEqual([0, 3, 5, 999]);
    expect(descend(a, MerkleTree.fromDigests(shape, { ...base }), 's2')).toEqual([]);
    expect(MerkleTree.fromDigests(shape, { '7': '0000000000000000' }).root()).toEqual(MerkleTree.fromDigests(shape, {}).root());
  });

  it('update re-reads some leaves and matches a tree built from scratch', () => {
    const shape = treeShape(5000, 16);
    const leaves = Buffer.alloc(5000 * 8);
    for (let b = 0; b < 5000; b += 7) leaves.writeUInt32BE((b * 2654435761) >>> 0, b * 8);
    const tree = MerkleTree.fromLeaves(shape, leaves);
    const changed = [0, 7, 4999, 1234, 4096];
    const fresh = Buffer.alloc(changed.length * 8);
    changed.forEach((b, i) => { if (b !== 7) fresh.writeUInt32BE(b + 1, i * 8 + 4); });
    tree.update(changed, fresh);
    changed.forEach((b, i) => fresh.copy(leaves, b * 8, i * 8, i * 8 + 8));
    const rebuilt = MerkleTree.fromLeaves(shape, leaves);
    expect(tree.root()).toEqual(rebuilt.root());
    expect(descend(tree, rebuilt, 's3')).toEqual([]);
    expect(tree.leaves([7, 4999]).toString('hex')).toBe(`0000000000000000${fresh.subarray(16, 24).toString('hex')}`);
    expect(() => tree.update([5000], Buffer.alloc(8))).toThrow(RangeError);
    expect(() => MerkleTree.fromLeaves(shape, Buffer.alloc(8))).toThrow(RangeError);
  });

  it('a single bucket is its own root', () => {
    const shape = treeShape(1);
    expect(shape.depth).toBe(0);
    expect(MerkleTree.fromDigests(shape, { '0': hex(5) }).root().toString('hex')).toBe(hex(5));
  });

  it('diffVersions: missing, older, newer and concurrent', () => {
    const local = new Map([['a', 'east:1'], ['b', 'east:2'], ['c', 'east:1'], ['d', 'east:1'], ['e', 'west:1']]);
    const remote = new Map([['a', 'east:1'], ['b', 'east:1'], ['c', 'east:2'], ['d', 'west:1'], ['f', 'west:3']]);
    const d = diffVersions(local, remote);
    expect(d.pull.sort()).toEqual(['c', 'd', 'f']);
    expect(d.push.sort()).toEqual(['b', 'd', 'e']);
    expect(d.concurrent).toBe(1);
  });
});
