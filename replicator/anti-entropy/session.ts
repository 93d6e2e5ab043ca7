/**
 * One anti-entropy session for one (keyspace, partition) with one peer, run by the
 * initiator: compare roots; descend level by level only into differing subtrees; exchange
 * the (key, version) lists of the differing buckets; pull what this side lacks or holds
 * older/concurrent; ask the peer (`need`) to pull what it lacks (mode `both`). Every
 * version is applied through the store's version comparison, so concurrent versions end up
 * pending for the conflict worker. Repeats up to `roundsMax` while it makes progress.
 *
 * The local tree is read once per session (every bucket digest, packed); a later round
 * re-reads only the buckets that differed in the round before (the only ones the session
 * changed here) and recomputes their ancestors. The responder does the same on its side.
 */
import { hlcFromString } from '../../conflict/hlc.js';
import { vvFromString } from '../../conflict/vv.js';
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';
import type { ChangeRecord } from '../types.js';
import { diffVersions } from './diff.js';
import type { WireRecord } from './messages.js';
import type { AntiEntropyLimits } from './options.js';
import type { AeRpc, ByteAccount } from './rpc.js';
import { MerkleTree, differingChildren, roundSalt, toWire, treeShape, type TreeShape } from './tree.js';
import { AntiEntropyError, addCounts, zeroCounts, type AePlacement, type AeStore, type OutcomeCounts, type PartitionRepairStats } from './types.js';

/** Records per applyVersions call (the store accepts up to 4096). */
export const APPLY_CHUNK_RECORDS = 1024;
const SCAN_STEP = 512;
/**
 * A later round re-reads the digests of the buckets that differed unless they are more than
 * this fraction of the partition; then it reads the whole partition again (cheaper per bucket).
 */
export const REFRESH_FRACTION_MAX = 1 / 8;

export interface AeContext {
  readonly region: string;
  readonly store: AeStore;
  readonly rpc: AeRpc;
  readonly limits: AntiEntropyLimits;
  readonly clock: Clock;
  readonly log: Logger;
  placement(keyspace: string): AePlacement | undefined;
  onConflicts(): void;
}

export async function runPartitionSession(ctx: AeContext, peer: string, keyspace: string, partition: number, mode: 'both' | 'pull', sid: string): Promise<PartitionRepairStats> {
  const shape = partitionShape(ctx, peer, keyspace, partition);
  const t0 = ctx.clock.monoMs();
  const stats: PartitionRepairStats = {
    peer, keyspace, partition, mode, rounds: 0, differingBuckets: 0, keysCompared: 0,
    pulled: zeroCounts(), pushed: zeroCounts(), bytesSent: 0, bytesReceived: 0, peerBytes: 0, converged: false, durationMs: 0,
  };
  const acct: ByteAccount = { sent: 0, received: 0 };
  try {
    let local: MerkleTree | undefined;
    let changed: number[] = [];
    for (let round = 0; ; round++) {
      const buckets = await differingBuckets(ctx, peer, keyspace, partition, shape, sid, round, acct,
        () => localTree(ctx.store, keyspace, partition, shape, local, changed).then((t) => (local = t)));
      if (buckets.length === 0) { stats.converged = true; break; }
      if (round >= ctx.limits.roundsMax) break;
      stats.rounds++;
      stats.differingBuckets += buckets.length;
      const progress = await repairBuckets(ctx, peer, keyspace, partition, buckets, mode, sid, stats, acct);
      if (!progress) break;
      changed = buckets;
    }
  } finally {
    stats.bytesSent = acct.sent;
    stats.bytesReceived = acct.received;
    stats.durationMs = Math.round(ctx.clock.monoMs() - t0);
  }
  return stats;
}

/** The tree shape of (keyspace, partition); throws for an unknown keyspace or partition. */
function partitionShape(ctx: AeContext, peer: string, keyspace: string, partition: number): TreeShape {
  const map = ctx.placement(keyspace);
  if (!map) throw new AntiEntropyError(peer, 'unknown_keyspace', `unknown keyspace ${keyspace}`);
  if (partition < 0 || partition >= map.keyspace.partitions) throw new RangeError(`partition ${partition} out of range for ${keyspace}`);
  return treeShape(map.merkleBuckets, ctx.limits.fanout);
}

/**
 * This side's tree for a round: the whole partition read and built the first time (or when
 * `changed` is a large part of it), else `previous` with the digests of `changed` re-read.
 */
export async function localTree(store: AeStore, ks: string, p: number, shape: TreeShape, previous: MerkleTree | undefined, changed: readonly number[]): Promise<MerkleTree> {
  if (!previous || changed.length > shape.buckets * REFRESH_FRACTION_MAX) return MerkleTree.fromLeaves(shape, await store.leaves(ks, p, shape.buckets));
  if (changed.length > 0) previous.update(changed, await store.leafDigests(ks, p, changed));
  return previous;
}

/**
 * One `tree` request for the peer's root of (ks, p), round `sid` of session `ss`, while
 * `build` produces this side's tree (both sides read their trees at once). Returns whether
 * the roots are equal and this side's tree (the descent continues from it).
 */
async function compareRoots(ctx: AeContext, peer: string, ks: string, p: number, shape: TreeShape, sid: string, ss: string, acct: ByteAccount,
  build: () => Promise<MerkleTree>): Promise<{ equal: boolean; local: MerkleTree }> {
  const [root, local] = await Promise.all([
    ctx.rpc.request(peer, { op: 'tree', ks, p, n: shape.buckets, f: shape.fanout, sid, ss, lv: -1, ps: [] }, acct),
    build(),
  ]);
  return { equal: Buffer.from(root.h).equals(local.root()), local };
}

/**
 * Whether this region's Merkle root of (keyspace, partition) equals `peer`'s right now: one
 * `tree` request (`lv = -1`) and one read of the local digests, nothing repaired. Throws like
 * any session request (unknown keyspace, peer unreachable after the retries, bad reply).
 */
export async function partitionRootsEqual(ctx: AeContext, peer: string, keyspace: string, partition: number, sid: string, acct: ByteAccount = { sent: 0, received: 0 }): Promise<boolean> {
  const shape = partitionShape(ctx, peer, keyspace, partition);
  const { equal } = await compareRoots(ctx, peer, keyspace, partition, shape, `${sid}.0`, sid, acct,
    () => localTree(ctx.store, keyspace, partition, shape, undefined, []));
  return equal;
}

/**
 * Descends from the root into differing subtrees only; returns the differing buckets. The
 * peer's root is asked before `build` (this side's tree) runs, so both sides build at once.
 */
async function differingBuckets(ctx: AeContext, peer: string, ks: string, p: number, shape: TreeShape, sid: string, rd: number, acct: ByteAccount,
  build: () => Promise<MerkleTree>): Promise<number[]> {
  const roundSid = `${sid}.${rd}`;
  const { equal, local } = await compareRoots(ctx, peer, ks, p, shape, roundSid, sid, acct, build);
  if (equal) return [];
  const base = { ks, p, n: shape.buckets, f: shape.fanout, sid: roundSid, ss: sid };
  const salt = roundSalt(roundSid);
  let frontier = [0];
  for (let level = 0; level < shape.depth; level++) {
    const next: number[] = [];
    for (let i = 0; i < frontier.length; i += ctx.limits.parentsPerRequestMax) {
      const parents = frontier.slice(i, i + ctx.limits.parentsPerRequestMax);
      const reply = await ctx.rpc.request(peer, { op: 'tree', ...base, lv: level, ps: parents }, acct);
      try {
        next.push(...differingChildren(shape, parents, toWire(local.children(level, parents), salt), reply.h));
      } catch (err) {
        throw new AntiEntropyError(peer, 'bad_reply', (err as Error).message);
      }
    }
    frontier = next;
  }
  return frontier.filter((b) => b < shape.buckets);
}

/** Exchanges key lists of `buckets`, pulls and (mode both) pushes. True when something was applied on either side. */
async function repairBuckets(ctx: AeContext, peer: string, ks: string, p: number, buckets: number[], mode: 'both' | 'pull', sid: string, stats: PartitionRepairStats, acct: ByteAccount): Promise<boolean> {
  const before = stats.pulled.applied + stats.pushed.applied + stats.pulled.conflict + stats.pushed.conflict;
  const pull: string[] = [];
  const push: string[] = [];
  const n = ctx.placement(ks)!.merkleBuckets;
  for (let i = 0; i < buckets.length; i += ctx.limits.bucketsPerRequestMax) {
    const chunk = buckets.slice(i, i + ctx.limits.bucketsPerRequestMax);
    const [remote, local] = await Promise.all([
      remoteMembers(ctx, peer, ks, p, n, chunk, acct),
      localMembers(ctx.store, ks, p, chunk, ctx.limits.entriesPerReplyMax),
    ]);
    chunk.forEach((b, j) => {
      const d = diffVersions(local[j]!, remote.get(b) ?? new Map());
      stats.keysCompared += local[j]!.size + (remote.get(b)?.size ?? 0);
      pull.push(...d.pull);
      push.push(...d.push);
    });
  }
  // Pull and push run at once: they write different regions, and a key in both lists is
  // concurrent, so applying it here leaves the record the peer reads unchanged.
  await Promise.all([
    pull.length > 0 ? pullKeys(ctx, peer, ks, p, pull, acct).then((c) => addCounts(stats.pulled, c)) : undefined,
    mode === 'both' ? pushKeys(ctx, peer, ks, p, push, sid, stats, acct) : undefined,
  ]);
  return stats.pulled.applied + stats.pushed.applied + stats.pulled.conflict + stats.pushed.conflict > before;
}

/** Asks the peer to pull `keys` from this region (`need`, chunked). */
async function pushKeys(ctx: AeContext, peer: string, ks: string, p: number, push: readonly string[], sid: string, stats: PartitionRepairStats, acct: ByteAccount): Promise<void> {
  for (let i = 0; i < push.length; i += ctx.limits.keysPerNeedMax) {
    const keys = push.slice(i, i + ctx.limits.keysPerNeedMax);
    const timeoutScale = 2 + Math.ceil(keys.length / ctx.limits.keysPerGetMax);
    const reply = await ctx.rpc.request(peer, { op: 'need', ks, p, sid, keys }, acct, timeoutScale);
    addCounts(stats.pushed, reply);
    stats.peerBytes += reply.bytes;
  }
}

async function remoteMembers(ctx: AeContext, peer: string, ks: string, p: number, n: number, bs: number[], acct: ByteAccount): Promise<Map<number, Map<string, string>>> {
  const out = new Map<number, Map<string, string>>();
  let i = 0;
  let c = '';
  for (let page = 0; ; page++) {
    const reply = await ctx.rpc.request(peer, { op: 'keys', ks, p, n, bs, i, c }, acct);
    for (let j = 0; j < reply.k.length; j++) {
      const b = reply.b[j]!;
      let m = out.get(b);
      if (!m) out.set(b, (m = new Map()));
      m.set(reply.k[j]!, reply.v[j]!);
    }
    if (reply.ni === null) return out;
    if (reply.ni < i || (reply.ni === i && reply.nc === c && reply.k.length === 0)) throw new AntiEntropyError(peer, 'bad_reply', 'keys reply made no progress');
    i = reply.ni;
    c = reply.nc;
  }
}

/** This region's members of `buckets` (large buckets read with HSCAN). */
export async function localMembers(store: AeStore, ks: string, p: number, buckets: readonly number[], entriesMax: number): Promise<Map<string, string>[]> {
  const maps: (Map<string, string> | null)[] = [];
  while (maps.length < buckets.length) {
    const got = await store.bucketMembers(ks, p, buckets.slice(maps.length), entriesMax);
    if (got.length === 0) throw new Error(`bucketMembers read no bucket of ${buckets.length - maps.length}`);
    maps.push(...got);
  }
  return Promise.all(maps.map(async (m, j) => {
    if (m) return m;
    const full = new Map<string, string>();
    let cursor = '0';
    do {
      const step = await store.scanMembers(ks, p, buckets[j]!, cursor, SCAN_STEP);
      step.keys.forEach((k, i) => full.set(k, step.versions[i]!));
      cursor = step.cursor;
    } while (cursor !== '0');
    return full;
  }));
}

/**
 * Fetches `keys` of partition `p` from `peer` and applies them here; bounded requests. The
 * next `get` is in flight while a reply is applied (at most two replies held).
 */
export async function pullKeys(ctx: AeContext, peer: string, ks: string, p: number, keys: readonly string[], acct: ByteAccount): Promise<OutcomeCounts> {
  const counts = zeroCounts();
  const ask = (at: number) => {
    const chunk = keys.slice(at, at + ctx.limits.keysPerGetMax);
    return ctx.rpc.request(peer, { op: 'get', ks, p, keys: chunk }, acct).then((reply) => ({ chunk, reply }));
  };
  let at = 0;
  let next = keys.length > 0 ? ask(0) : undefined;
  while (next) {
    const { chunk, reply } = await next;
    if (reply.n < 1 || reply.n > chunk.length) throw new AntiEntropyError(peer, 'bad_reply', `get reply covers ${reply.n} of ${chunk.length} keys`);
    at += reply.n;
    next = at < keys.length ? ask(at) : undefined;
    // An unanswered prefetch after a failed apply is still awaited by nobody: keep it quiet.
    next?.catch(() => {});
    const records = acceptRecords(ctx, peer, ks, p, chunk.slice(0, reply.n), reply.recs, counts);
    for (let i = 0; i < records.length; i += APPLY_CHUNK_RECORDS) {
      const outcomes = await ctx.store.applyVersions(records.slice(i, i + APPLY_CHUNK_RECORDS));
      for (const o of outcomes) counts[o]++;
    }
  }
  if (counts.conflict > 0) ctx.onConflicts();
  return counts;
}

/** The records of a `get` reply that were asked for and sit where this region places them; counts the rest as rejected. */
function acceptRecords(ctx: AeContext, peer: string, ks: string, p: number, asked: readonly string[], recs: readonly WireRecord[], counts: OutcomeCounts): ChangeRecord[] {
  const map = ctx.placement(ks)!;
  const wanted = new Set(asked);
  const records: ChangeRecord[] = [];
  const rejectedBefore = counts.rejected;
  for (const wire of recs) {
    const rec = toChangeRecord(ks, wire);
    const placed = rec && map.place(rec.key);
    if (!rec || !wanted.has(rec.key) || !placed || placed.partition !== p || placed.bucket !== rec.bucket || rec.partition !== p) {
      counts.rejected++;
      continue;
    }
    wanted.delete(rec.key);
    records.push(rec);
  }
  if (counts.rejected > rejectedBefore) ctx.log.warn({ peer, keyspace: ks, partition: p, rejected: counts.rejected - rejectedBefore }, 'anti-entropy records refused (not requested or misplaced)');
  return records;
}

export function toChangeRecord(keyspace: string, w: WireRecord): ChangeRecord | null {
  const [key, partition, bucket, value, contentType, vvText, hlcText, origin, epoch, tomb, expiresAtMs] = w;
  const vv = vvFromString(vvText);
  const hlc = hlcFromString(hlcText);
  if (!vv || !hlc || vvText === '') return null;
  return { seq: 0, keyspace, key, partition, bucket, record: { value, contentType, vv, hlc, origin, epoch, tombstone: tomb === 1, ...(expiresAtMs !== undefined && { expiresAtMs }) } };
}

export function fromStoredFields(key: string, f: { value: Uint8Array; contentType: string; vv: string; hlc: string; origin: string; epoch: number; tombstone: boolean; partition: number; bucket: number; expiresAtMs?: number | undefined }): WireRecord {
  const rec: WireRecord = [key, f.partition, f.bucket, f.value, f.contentType, f.vv, f.hlc, f.origin, f.epoch, f.tombstone ? 1 : 0];
  if (f.expiresAtMs !== undefined) rec[10] = f.expiresAtMs;
  return rec;
}
