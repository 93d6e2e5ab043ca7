/**
 * The bootstrap of a store that started empty (and the rebuild of one that lost its data
 * while running): the peers every partition is still to be pulled from, the pulls running,
 * and the state the gateway's write gate follows. A pull that does not complete waits as
 * pending: retried while the peer is up, or at its next `up`.
 */
import type { Logger } from '../../infra/log.js';
import { NEEDS_REPAIR_RETRY_MS } from './timers.js';
import type { AeLinks, RepairAllStats } from './types.js';

export interface BootstrapDeps {
  readonly links: Pick<AeLinks, 'status'>;
  readonly log: Logger;
  /** Whether anti-entropy runs (before start, a bootstrap waits for every peer's `up`). */
  started(): boolean;
  /** Pulls every partition from `peer` (AntiEntropy.bootstrapFrom). */
  pull(peer: string): Promise<RepairAllStats>;
  retryWhileUp(peer: string, fn: () => void): void;
}

export class BootstrapState {
  private readonly pending = new Set<string>();
  private readonly from = new Set<string>();
  private running = 0;
  /** Bumped by rebuildFromPeers: pulls started before it are not reused. */
  private rebuildGeneration = 0;
  private state: 'none' | 'pending' | 'done' = 'none';

  constructor(private readonly d: BootstrapDeps) {}

  /** Pulls of an older generation than this one are not shared with a new caller. */
  generation(): number {
    return this.rebuildGeneration;
  }

  /**
   * `none` (the store did not start empty), `pending`, or `done` once every partition was
   * pulled from at least one peer and no peer that is up is still waiting for (or in) its
   * pull. Latched: once done, it stays done.
   */
  status(): { state: 'none' | 'pending' | 'done'; from: string[]; complete: boolean } {
    const peers = this.d.links.status().map((s) => s.region);
    return { state: this.state, from: [...this.from].sort(), complete: peers.every((p) => this.from.has(p)) };
  }

  begin(): void {
    if (this.state !== 'none') return;
    this.state = 'pending';
    if (this.d.started()) this.rebuildFromPeers();
    else for (const s of this.d.links.status()) this.pending.add(s.region);
  }

  /** Pull every partition from every peer again: now from those that are up, from the others when they come up. */
  rebuildFromPeers(): void {
    if (!this.d.started()) return;
    this.rebuildGeneration++;
    for (const s of this.d.links.status()) {
      this.from.delete(s.region);
      if (s.state === 'up') this.startPull(s.region);
      else this.pending.add(s.region);
    }
  }

  /** `peer` is up: its pull starts if it waits for one (true then). */
  peerUp(peer: string): boolean {
    if (!this.pending.delete(peer)) return false;
    this.startPull(peer);
    return true;
  }

  /** A peer went down: one still waiting for its pull no longer holds the bootstrap. */
  peerDown(): void {
    this.checkDone();
  }

  private checkDone(): void {
    if (this.state !== 'pending' || this.from.size === 0 || this.running > 0) return;
    const up = new Set(this.d.links.status().filter((s) => s.state === 'up').map((s) => s.region));
    if ([...this.pending].some((peer) => up.has(peer))) return;
    this.state = 'done';
    this.d.log.info({ from: [...this.from].sort(), waitingFor: [...this.pending].sort() }, 'bootstrap done: every partition pulled from the peers that are up');
  }

  private startPull(peer: string): void {
    this.running++;
    // an incomplete pull waits as pending: retried while the peer is up, or at its next `up`
    const retry = () => {
      this.pending.add(peer);
      this.d.retryWhileUp(peer, () => { if (this.pending.delete(peer)) this.startPull(peer); });
    };
    void this.d.pull(peer).then(
      (stats) => {
        if (stats.failed === 0) return void this.from.add(peer);
        this.d.log.warn({ peer, failed: stats.failed, errors: stats.errors, retryMs: NEEDS_REPAIR_RETRY_MS }, 'bootstrap incomplete; retrying');
        retry();
      },
      (err: unknown) => { this.d.log.warn({ peer, err: (err as Error).message, retryMs: NEEDS_REPAIR_RETRY_MS }, 'bootstrap failed; retrying'); retry(); },
    ).finally(() => {
      this.running--;
      this.checkDone();
    });
  }
}
