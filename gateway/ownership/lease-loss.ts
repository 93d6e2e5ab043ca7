/**
 * Counts the write leases this region lost: a lease it held that ended without a renewal
 * (`expired`: the votes did not come back in time, e.g. the region was cut off) or whose
 * partition moved to another region while the lease still ran (`taken-over`). A lease given
 * up on purpose (a handover to the preferred region) is no loss. Pure bookkeeping on
 * monotonic time: the caller reports renewals, releases and owner changes and sweeps.
 */
export type LeaseLossReason = 'expired' | 'taken-over';
export const LEASE_LOSS_REASONS: readonly LeaseLossReason[] = ['expired', 'taken-over'];

export interface LeaseLoss {
  readonly partition: string;
  readonly epoch: number;
  readonly reason: LeaseLossReason;
  /** How long ago the lease ended (0 for a takeover under a running lease). */
  readonly endedMsAgo: number;
}

export class LeaseLossTracker {
  /** Leases held now (or lapsed and not swept yet): partition key → epoch and end (monotonic ms). */
  private readonly held = new Map<string, { epoch: number; untilMs: number }>();

  constructor(private readonly onLost: (loss: LeaseLoss) => void) {}

  /** The lease of `key` runs until `untilMs` under `epoch`; a lease of it that had already ended first counts as lost. */
  renewed(key: string, epoch: number, untilMs: number, nowMs: number): void {
    const h = this.held.get(key);
    if (h && h.untilMs <= nowMs) this.lose(key, h, 'expired', nowMs);
    this.held.set(key, { epoch, untilMs });
  }

  /** The region gives the partition up (a handover): its lease ending is not a loss. */
  released(key: string): void {
    this.held.delete(key);
  }

  /** The partition's owner is now `owner` (`self`: this region). */
  ownerChanged(key: string, ownerIsSelf: boolean, nowMs: number): void {
    if (ownerIsSelf) return;
    const h = this.held.get(key);
    if (!h) return;
    this.lose(key, h, h.untilMs <= nowMs ? 'expired' : 'taken-over', nowMs);
  }

  /** Counts every held lease whose end has passed; bounded by the partitions held. */
  sweep(nowMs: number): void {
    for (const [key, h] of [...this.held]) if (h.untilMs <= nowMs) this.lose(key, h, 'expired', nowMs);
  }

  heldCount(): number {
    return this.held.size;
  }

  private lose(key: string, h: { epoch: number; untilMs: number }, reason: LeaseLossReason, nowMs: number): void {
    this.held.delete(key);
    this.onLost({ partition: key, epoch: h.epoch, reason, endedMsAgo: Math.max(0, nowMs - h.untilMs) });
  }
}
