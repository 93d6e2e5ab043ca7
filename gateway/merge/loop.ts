/**
 * A background round that runs every `periodMs`, or as soon as possible after `kick()`;
 * never two rounds at once (a kick during a round runs the next one right after it). The
 * conflict worker and the compensating-action worker run on it.
 */
import type { Clock, TimerHandle } from '../../infra/clock.js';

export class WorkerLoop {
  private timer: TimerHandle | undefined;
  private running = false;
  private again = false;
  private stopped = true;

  constructor(private readonly clock: Clock, private readonly periodMs: number, private readonly round: () => Promise<void>) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Run a round soon (coalesced with one already running). */
  kick(): void {
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimer(ms, () => void this.run());
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.round();
    } finally {
      this.running = false;
      const soon = this.again;
      this.again = false;
      this.schedule(soon ? 0 : this.periodMs);
    }
  }
}
