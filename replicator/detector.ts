/**
 * Failure detector for one peer, driven by an injected clock. Any frame received proves the
 * peer alive (`heard`). Silence of `suspectMs` (= heartbeatMs × missedMax) makes it
 * suspect; silence of `downMs` (default 2 × suspectMs) makes it down. A closed link makes
 * an up peer suspect at once (the down timer keeps counting from the last frame heard).
 * A peer never heard from since start is down.
 */
import type { Clock, TimerHandle } from '../infra/clock.js';

export type PeerState = 'up' | 'suspect' | 'down';

export interface PeerStateChange {
  readonly peer: string;
  readonly from: PeerState;
  readonly to: PeerState;
  readonly reason: string;
  readonly silenceMs: number;
}

export interface DetectorOptions {
  readonly suspectMs: number;
  readonly downMs: number;
}

export class FailureDetector {
  private stateNow: PeerState = 'down';
  private lastHeardMs: number | null = null;
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(
    readonly peer: string,
    private readonly clock: Clock,
    private readonly options: DetectorOptions,
    private readonly onChange: (change: PeerStateChange) => void,
  ) {}

  state(): PeerState {
    return this.stateNow;
  }

  /** Milliseconds since the last frame from the peer (null: never heard). */
  silenceMs(): number | null {
    return this.lastHeardMs === null ? null : this.clock.monoMs() - this.lastHeardMs;
  }

  heard(): void {
    if (this.stopped) return;
    const wasUp = this.stateNow === 'up';
    this.lastHeardMs = this.clock.monoMs();
    if (!wasUp) this.move('up', 'frame received');
    // A timer armed for the down threshold would fire too late for the next suspicion.
    if (!wasUp || !this.timer) this.arm(this.options.suspectMs);
  }

  linkClosed(reason: string): void {
    if (this.stopped || this.stateNow !== 'up') return;
    this.move('suspect', `link closed: ${reason}`);
    this.rearm();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(afterMs: number): void {
    this.timer?.cancel();
    this.timer = this.clock.setTimer(Math.max(0, afterMs), () => {
      this.timer = null;
      this.evaluate();
    });
  }

  private rearm(): void {
    const silence = this.silenceMs();
    if (silence === null || this.stateNow === 'down') return;
    const threshold = this.stateNow === 'up' ? this.options.suspectMs : this.options.downMs;
    this.arm(threshold - silence);
  }

  private evaluate(): void {
    if (this.stopped) return;
    const silence = this.silenceMs() ?? Infinity;
    if (silence >= this.options.downMs) this.move('down', `silent for ${silence} ms`);
    else if (silence >= this.options.suspectMs && this.stateNow === 'up') this.move('suspect', `silent for ${silence} ms`);
    this.rearm();
  }

  private move(to: PeerState, reason: string): void {
    const from = this.stateNow;
    if (from === to) return;
    this.stateNow = to;
    this.onChange({ peer: this.peer, from, to, reason, silenceMs: this.silenceMs() ?? -1 });
  }
}
