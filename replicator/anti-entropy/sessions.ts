/**
 * Partition sessions with the peers: one session (through the per-peer slots), a pass over
 * every partition shared with a peer (callers of the same key share a running pass), root
 * comparisons (bounded, never queued), and the peer's `need` (it asks us to pull keys).
 * Counts what is applying here (tombstone collection waits for none).
 */
import type { AeLinks, AePlacement, PartitionRepairStats, RepairAllStats } from './types.js';
import { AntiEntropyError, addCounts, peerStatus, zeroCounts } from './types.js';
import type { RequestOf } from './messages.js';
import type { ByteAccount } from './rpc.js';
import { partitionRootsEqual, pullKeys, runPartitionSession, type AeContext } from './session.js';
import { SessionSlots } from './slots.js';

/** Root comparisons (partitionInSync) running at once, over all peers. */
export const ROOT_COMPARISONS_IN_FLIGHT_MAX = 64;

export interface SessionsDeps {
  readonly ctx: AeContext;
  readonly links: Pick<AeLinks, 'status'>;
  /** Keyspace name → placement (the gateway's PartitionMaps). */
  readonly maps: ReadonlyMap<string, AePlacement>;
  started(): boolean;
  /** The keys of a `need` were applied (the responder's cached trees of those buckets are stale). */
  changed(peer: string, sid: string, ks: string, p: number, buckets: Set<number>): void;
}

export class PartitionSessions {
  readonly slots: SessionSlots;
  private readonly repairing = new Map<string, Promise<RepairAllStats>>();
  private comparing = 0;
  private applyingCount = 0;
  private sessionSeq = 0;

  constructor(private readonly d: SessionsDeps) {
    this.slots = new SessionSlots(d.ctx.limits, () => d.started());
  }

  /** Sessions or `need` pulls applying records here now. */
  applying(): number {
    return this.applyingCount;
  }

  /** A pass under `key`: a running one is shared, else `run` starts one. */
  once(key: string, run: () => Promise<RepairAllStats>): Promise<RepairAllStats> {
    const current = this.repairing.get(key);
    if (current) return current;
    const p = run().finally(() => this.repairing.delete(key));
    this.repairing.set(key, p);
    return p;
  }

  async allPartitions(peer: string, mode: 'both' | 'pull'): Promise<RepairAllStats> {
    const jobs: Promise<PartitionRepairStats>[] = [];
    for (const [ks, map] of this.d.maps) {
      for (let p = 0; p < map.keyspace.partitions; p++) {
        if (!this.shared(map, p, peer)) continue;
        jobs.push(this.session(peer, ks, p, mode));
      }
    }
    const results = await Promise.allSettled(jobs);
    const pulled = zeroCounts();
    const pushed = zeroCounts();
    const errors: string[] = [];
    let converged = 0;
    let bytes = 0;
    for (const r of results) {
      if (r.status === 'rejected') { errors.push((r.reason as Error).message); continue; }
      addCounts(pulled, r.value.pulled);
      addCounts(pushed, r.value.pushed);
      bytes += r.value.bytesSent + r.value.bytesReceived + r.value.peerBytes;
      if (r.value.converged) converged++;
    }
    const stats = { peer, partitions: jobs.length, converged, failed: errors.length, pulled, pushed, bytes, errors: errors.slice(0, 8) };
    this.d.ctx.log.info({ ...stats, mode }, 'anti-entropy pass finished');
    return stats;
  }

  /** Whether both this region and `peer` hold partition `p` of `map`. */
  shared(map: AePlacement, p: number, peer: string): boolean {
    const regions = map.nodeList(p).map((n) => n.region);
    return regions.includes(peer) && regions.includes(this.d.ctx.region);
  }

  async session(peer: string, ks: string, p: number, mode: 'both' | 'pull'): Promise<PartitionRepairStats> {
    if (!this.d.started()) throw new AntiEntropyError(peer, 'stopped', 'anti-entropy is not running');
    if (!this.d.links.status().some((s) => s.region === peer)) throw new AntiEntropyError(peer, 'unknown_peer', `${peer} is not a peer`);
    await this.slots.acquire(peer);
    this.applyingCount++;
    try {
      const stats = await runPartitionSession(this.d.ctx, peer, ks, p, mode, `${this.d.ctx.region}-${++this.sessionSeq}`);
      if (stats.rounds > 0) this.d.ctx.log.info({ ...stats }, 'anti-entropy session');
      return stats;
    } finally {
      this.applyingCount--;
      this.slots.release(peer);
    }
  }

  /** See AntiEntropy.partitionInSync: at most ROOT_COMPARISONS_IN_FLIGHT_MAX at once (over it: false); never throws. */
  async partitionInSync(peer: string, keyspace: string, partition: number): Promise<boolean> {
    const map = this.d.maps.get(keyspace);
    if (!this.d.started() || !map || partition < 0 || partition >= map.keyspace.partitions || !this.shared(map, partition, peer)) return false;
    if (peerStatus(this.d.links, peer)?.state !== 'up') return false;
    if (this.comparing >= ROOT_COMPARISONS_IN_FLIGHT_MAX) return false;
    this.comparing++;
    try {
      return await partitionRootsEqual(this.d.ctx, peer, keyspace, partition, `${this.d.ctx.region}-${++this.sessionSeq}`);
    } catch (err) {
      this.d.ctx.log.debug({ peer, keyspace, partition, err: (err as Error).message }, 'partition root comparison failed');
      return false;
    } finally {
      this.comparing--;
    }
  }

  /** The peer asks this region to pull `req.keys` from it. */
  async onNeed(peer: string, req: RequestOf<'need'>): Promise<Record<string, number>> {
    const acct: ByteAccount = { sent: 0, received: 0 };
    this.applyingCount++;
    try {
      const counts = await pullKeys(this.d.ctx, peer, req.ks, req.p, req.keys, acct);
      return { ...counts, bytes: acct.sent + acct.received };
    } finally {
      this.applyingCount--;
      const map = this.d.maps.get(req.ks);
      if (map) this.d.changed(peer, req.sid, req.ks, req.p, new Set(req.keys.map((k) => map.place(k).bucket)));
    }
  }
}
