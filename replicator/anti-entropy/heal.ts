/**
 * Repairs started by the peers' state: every partition shared with a peer marked
 * needs-repair (then the mark is cleared), and with a peer that comes back `up` after having
 * been down (the region whose name sorts first initiates, after `healDelayMs`, once the
 * replication logs drained).
 */
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';
import type { PeerStatus } from '../types.js';
import type { AntiEntropyLimits } from './options.js';
import { NEEDS_REPAIR_RETRY_MS } from './timers.js';
import { peerStatus, type AeLinks, type RepairAllStats } from './types.js';

/** Longest a heal repair waits for the replication logs to drain before it runs anyway. */
export const HEAL_DRAIN_WAIT_MS_MAX = 120_000;
/**
 * The heal repair starts once at most this many entries are unacknowledged each way: the
 * split's backlog has shipped, what remains is in flight (under steady traffic over a WAN
 * the lag is never zero; waiting for zero waited out HEAL_DRAIN_WAIT_MS_MAX).
 */
export const HEAL_DRAIN_LAG_ENTRIES_MAX = 256;
const HEAL_DRAIN_POLL_MS_MIN = 100;

export interface HealDeps {
  readonly region: string;
  readonly links: Pick<AeLinks, 'status' | 'clearNeedsRepair' | 'repairMark'>;
  readonly limits: Pick<AntiEntropyLimits, 'repairOnHeal' | 'healDelayMs'>;
  readonly clock: Clock;
  readonly log: Logger;
  started(): boolean;
  /** AntiEntropy.repairAll (with a mark: a pass of its own). */
  repairAll(peer: string, mark?: string | null): Promise<RepairAllStats>;
  later(ms: number, fn: () => void): void;
  retryWhileUp(peer: string, fn: () => void): void;
}

export class HealRepairs {
  private readonly seenUp = new Set<string>();
  private readonly wentDown = new Set<string>();

  constructor(private readonly d: HealDeps) {}

  peerDown(peer: string): void {
    if (this.seenUp.has(peer)) this.wentDown.add(peer);
  }

  /** `peer` is up: a needs-repair mark it carries is worked on. */
  peerUp(peer: string): void {
    this.seenUp.add(peer);
    if (this.peerStatus(peer)?.needsRepair) this.onNeedsRepair(peer);
  }

  /** `peer` is up again after having been down: the heal repair (if this region initiates). */
  healed(peer: string): void {
    if (!this.wentDown.delete(peer) || !this.d.limits.repairOnHeal || this.d.region > peer) return;
    this.d.later(this.d.limits.healDelayMs, () => this.repairAfterDrain(peer, this.d.clock.monoMs()));
  }

  /**
   * Repairs every partition shared with a peer marked needs-repair, then clears the mark. A
   * pass that does not complete (the peer busy or gone, e.g. while it bootstraps itself) is
   * tried again after NEEDS_REPAIR_RETRY_MS while the peer is up, else when it is up again
   * (onPeerState): the mark never stays set with nobody working on it.
   */
  onNeedsRepair(peer: string): void {
    if (!this.d.started()) return;
    const retry = () => this.d.retryWhileUp(peer, () => { if (this.peerStatus(peer)?.needsRepair) this.onNeedsRepair(peer); });
    // a pass that began before the current mark may have passed partitions the new hole
    // touches: the mark is cleared only by a pass begun under it
    const mark = this.d.links.repairMark?.(peer) ?? null;
    void this.d.repairAll(peer, mark).then((stats) => {
      if (stats.failed === 0) return this.d.links.clearNeedsRepair(peer, mark);
      this.d.log.warn({ peer, failed: stats.failed, errors: stats.errors, retryMs: NEEDS_REPAIR_RETRY_MS }, 'needs-repair pass incomplete; flag kept, retrying');
      retry();
    }, (err: unknown) => {
      this.d.log.warn({ peer, err: (err as Error).message, retryMs: NEEDS_REPAIR_RETRY_MS }, 'needs-repair pass failed; retrying');
      retry();
    });
  }

  /**
   * The heal repair waits until the replication logs between us and `peer` drained in both
   * directions, down to what is in flight (HEAL_DRAIN_LAG_ENTRIES_MAX): while a backlog is
   * still shipping, the digests differ by exactly what the log is about to deliver, and
   * repairing it would do the log's work twice. After
   * HEAL_DRAIN_WAIT_MS_MAX it repairs anyway; a peer that is no longer up cancels it (its
   * next return to `up` schedules a new one).
   */
  private repairAfterDrain(peer: string, since: number): void {
    const s = this.peerStatus(peer);
    if (!s || s.state !== 'up') return;
    const waited = this.d.clock.monoMs() - since;
    const drained = s.lagEntries <= HEAL_DRAIN_LAG_ENTRIES_MAX && s.remote !== null && s.remote.lagEntries <= HEAL_DRAIN_LAG_ENTRIES_MAX;
    if (!drained && waited < HEAL_DRAIN_WAIT_MS_MAX) {
      this.d.later(Math.max(HEAL_DRAIN_POLL_MS_MIN, this.d.limits.healDelayMs), () => this.repairAfterDrain(peer, since));
      return;
    }
    if (!drained) this.d.log.warn({ peer, waitedMs: waited, lagEntries: s.lagEntries }, 'replication logs still not drained after heal; repairing anyway');
    void this.d.repairAll(peer).catch((err: unknown) => this.d.log.warn({ peer, err: (err as Error).message }, 'repair after heal failed'));
  }

  private peerStatus(peer: string): PeerStatus | undefined {
    return peerStatus(this.d.links, peer);
  }
}
