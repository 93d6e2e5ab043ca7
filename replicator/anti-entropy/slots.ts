/**
 * The queue of partition sessions toward each peer: at most `sessionsPerPeerMax` run at once
 * per peer; the rest wait in arrival order, at most `queuePerPeerMax` of them (one more fails
 * `busy` at once: backpressure, never growth). A session that ends hands its slot to the
 * first waiter, so one asking meanwhile neither overtakes it nor runs past the bound.
 */
import { AntiEntropyError } from './types.js';

export interface SessionSlotLimits {
  readonly sessionsPerPeerMax: number;
  readonly queuePerPeerMax: number;
}

/** Wakes a waiter: `handed` when the slot of an ended session passed to it. */
type Waiter = (handed: boolean) => void;

export class SessionSlots {
  private readonly running = new Map<string, number>();
  private readonly queues = new Map<string, Waiter[]>();

  /** `open`: false once anti-entropy stopped (a waiter woken then fails `stopped`). */
  constructor(private readonly limits: SessionSlotLimits, private readonly open: () => boolean) {}

  /** Sessions running toward `peer` now. */
  runningFor(peer: string): number {
    return this.running.get(peer) ?? 0;
  }

  /** Sessions waiting for a slot toward `peer`. */
  queuedFor(peer: string): number {
    return this.queues.get(peer)?.length ?? 0;
  }

  /** Resolves when a session toward `peer` may run (call `release` when it ended). */
  async acquire(peer: string): Promise<void> {
    const n = this.running.get(peer) ?? 0;
    if (n < this.limits.sessionsPerPeerMax) return void this.running.set(peer, n + 1);
    const q = this.queues.get(peer) ?? [];
    if (q.length >= this.limits.queuePerPeerMax) throw new AntiEntropyError(peer, 'busy', `${q.length} sessions queued`);
    this.queues.set(peer, q);
    const handed = await new Promise<boolean>((resolve) => q.push(resolve));
    // woken without a slot (stop), or handed one after the stop: it is not run
    if (!handed || !this.open()) {
      if (handed) this.release(peer);
      throw new AntiEntropyError(peer, 'stopped', 'anti-entropy stopped');
    }
  }

  release(peer: string): void {
    const next = this.queues.get(peer)?.shift();
    if (next) return next(true); // the slot passes to the first waiter
    this.running.set(peer, Math.max(0, (this.running.get(peer) ?? 1) - 1));
  }

  /** Wakes every waiter without a slot (stopping: each fails `stopped`). */
  wakeAll(): void {
    for (const q of this.queues.values()) for (const w of q.splice(0)) w(false);
  }
}
