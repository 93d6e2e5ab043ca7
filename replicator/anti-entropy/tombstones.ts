/**
 * Tombstone collection. A tombstone (key, version V) may be deleted only when no region
 * can ever again hold an older or concurrent version of the key, otherwise a merge would
 * bring the delete back. Protocol, run by one region (the "keeper") for a bounded batch:
 *
 *  1. Local preconditions: every peer up, no needs-repair, zero lag both ways (nothing of
 *     an older version still in any log toward us or from us), no anti-entropy session
 *     applying records here; the tombstone's HLC wall time is older than the grace period.
 *  2. `tcheck` to every peer: each answers per item HOLDS (exactly V), ABSENT, NEWER or
 *     OTHER, plus whether it is itself quiet. An item survives when every peer HOLDS it, or
 *     is ABSENT while quiet (nothing can bring an older version there).
 *  3. `tcollect` to every peer: each deletes the item only if it still holds exactly V (a
 *     Lua compare-and-delete that also removes the leaf from the bucket digest and
 *     members) and answers again; the keeper deletes its own copy last, and only for items
 *     every peer confirmed (deleted or absent, quiet). Until then the keeper's copy still
 *     dominates any older version that might show up, and anti-entropy restores the
 *     tombstone where it went missing.
 */
import { TOMB_ABSENT, TOMB_HOLDS } from './messages.js';
import type { AeContext } from './session.js';
import type { PeerStatus } from '../types.js';
import type { AeLinks, TombstoneCandidate, TombstoneGcStats } from './types.js';

/**
 * Null when nothing can still bring older versions here (no record applying, every peer up,
 * none needing repair, nothing unacknowledged either way); else why not.
 */
export function quietReason(applying: number, peers: readonly PeerStatus[]): string | null {
  if (applying > 0) return 'anti-entropy sessions applying records';
  for (const s of peers) {
    if (s.state !== 'up') return `peer ${s.region} is ${s.state}`;
    if (s.needsRepair) return `peer ${s.region} needs repair`;
    if (s.lagEntries > 0) return `peer ${s.region} has not acked ${s.lagEntries} entries`;
    if (!s.remote || s.remote.lagEntries > 0) return `peer ${s.region} has entries for us in flight`;
  }
  return null;
}

export class TombstoneCollector {
  private cursor = '0';

  constructor(private readonly ctx: AeContext, private readonly links: AeLinks, private readonly localQuiet: () => string | null) {}

  /** One bounded batch; a failure is logged and answered as skipped. */
  collectLogged(): Promise<TombstoneGcStats> {
    return this.collect().catch((err: unknown) => {
      this.ctx.log.warn({ err: (err as Error).message }, 'tombstone collection failed');
      return { skipped: `failed: ${(err as Error).message}`, scanned: 0, candidates: 0, collected: 0 };
    });
  }

  async collect(): Promise<TombstoneGcStats> {
    const reason = this.localQuiet();
    if (reason) return { skipped: reason, scanned: 0, candidates: 0, collected: 0 };
    const olderThan = this.ctx.clock.nowMs() - this.ctx.limits.tombstoneGraceMs;
    const candidates: TombstoneCandidate[] = [];
    let scanned = 0;
    // bounded: a few SCAN steps, at most tombstoneBatchMax candidates
    for (let step = 0; step < 16 && candidates.length < this.ctx.limits.tombstoneBatchMax; step++) {
      const res = await this.ctx.store.scanTombstones(this.cursor, this.ctx.limits.tombstoneScanCount, olderThan);
      scanned += this.ctx.limits.tombstoneScanCount;
      this.cursor = res.cursor;
      candidates.push(...res.items.slice(0, this.ctx.limits.tombstoneBatchMax - candidates.length));
      if (res.cursor === '0') break;
    }
    let collected = 0;
    const byKs = new Map<string, TombstoneCandidate[]>();
    for (const c of candidates) byKs.set(c.keyspace, [...(byKs.get(c.keyspace) ?? []), c]);
    for (const [ks, items] of byKs) collected += await this.collectKeyspace(ks, items);
    return { skipped: null, scanned, candidates: candidates.length, collected };
  }

  private async collectKeyspace(ks: string, items: TombstoneCandidate[]): Promise<number> {
    const peers = this.links.status().map((s) => s.region);
    let alive = items;
    for (const peer of peers) {
      if (alive.length === 0) return 0;
      const reply = await this.ctx.rpc.request(peer, { op: 'tcheck', ks, items: alive.map((t) => [t.key, t.version] as [string, string]) });
      alive = alive.filter((_, i) => acceptable(reply.codes[i], reply.quiet));
    }
    for (const peer of peers) {
      if (alive.length === 0) return 0;
      const reply = await this.ctx.rpc.request(peer, { op: 'tcollect', ks, items: alive.map((t) => [t.key, t.partition, t.bucket, t.version] as [string, number, number, string]) });
      alive = alive.filter((_, i) => acceptable(reply.codes[i], reply.quiet));
    }
    if (alive.length === 0 || this.localQuiet()) return 0;
    const codes = await this.ctx.store.collectTombstones(ks, alive.map((t) => [t.key, t.partition, t.bucket, t.version] as const));
    const collected = codes.filter((c) => c === TOMB_HOLDS).length;
    this.ctx.log.info({ keyspace: ks, collected, examined: items.length }, 'tombstones collected');
    return collected;
  }
}

function acceptable(code: number | undefined, quiet: boolean): boolean {
  return code === TOMB_HOLDS || (code === TOMB_ABSENT && quiet);
}
