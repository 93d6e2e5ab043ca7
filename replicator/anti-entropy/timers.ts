/**
 * Anti-entropy's timers: each fires only while anti-entropy runs, and stop cancels them all
 * (no timer of a stopped anti-entropy fires again).
 */
import type { Clock, TimerHandle } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';

/** Pause before another needs-repair pass (or bootstrap pull) when one did not complete. */
export const NEEDS_REPAIR_RETRY_MS = 2_000;

export class AeTimers {
  private readonly timers = new Set<TimerHandle>();

  /** `running`: false once anti-entropy stopped; `peerUp`: whether a peer is up now. */
  constructor(private readonly clock: Clock, private readonly log: Logger, private readonly running: () => boolean, private readonly peerUp: (peer: string) => boolean) {}

  /**
   * Runs `fn` after NEEDS_REPAIR_RETRY_MS when `peer` is up then; a peer that is not has its
   * work picked up by onPeerState when it is up again, so no timer runs while it is away.
   */
  retryWhileUp(peer: string, fn: () => void): void {
    this.later(NEEDS_REPAIR_RETRY_MS, () => { if (this.peerUp(peer)) fn(); });
  }

  later(ms: number, fn: () => void): void {
    const t = this.clock.setTimer(ms, () => { this.timers.delete(t); if (this.running()) fn(); });
    this.timers.add(t);
  }

  every(ms: number, fn: () => void | Promise<void>): void {
    this.later(ms, () => {
      void Promise.resolve().then(fn).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'periodic anti-entropy failed'));
      this.every(ms, fn);
    });
  }

  cancelAll(): void {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }
}
