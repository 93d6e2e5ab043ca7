/**
 * Waiters for a peer's cumulative ack (sync replicas): bounded in number, each resolves
 * true when the peer acked the seq, false on timeout or when the link goes down.
 */
import type { Clock, TimerHandle } from '../infra/clock.js';
import { AckWaitersFullError } from './errors.js';

export const DEFAULT_ACK_WAITERS_MAX = 10_000;

interface Waiter {
  readonly seq: number;
  readonly timer: TimerHandle;
  readonly resolve: (acked: boolean) => void;
}

export class AckWaiters {
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly peer: string,
    private readonly clock: Clock,
    private readonly waitersMax: number,
  ) {}

  size(): number {
    return this.waiters.size;
  }

  /** Throws `AckWaitersFullError` at `waitersMax` pending waiters (backpressure to the caller). */
  wait(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.waiters.size >= this.waitersMax) throw new AckWaitersFullError(this.peer, this.waitersMax);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        seq,
        resolve,
        timer: this.clock.setTimer(timeoutMs, () => this.settle(waiter, false)),
      };
      this.waiters.add(waiter);
    });
  }

  /** The peer acked everything through `seq`. */
  acked(seq: number): void {
    for (const waiter of this.waiters) if (waiter.seq <= seq) this.settle(waiter, true);
  }

  /** Link down or replicator stopping: every waiter resolves false. */
  failAll(): void {
    for (const waiter of this.waiters) this.settle(waiter, false);
  }

  private settle(waiter: Waiter, acked: boolean): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.timer.cancel();
    waiter.resolve(acked);
  }
}
