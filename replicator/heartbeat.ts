/**
 * Heartbeats fill silences only: a HEARTBEAT goes out when nothing else was sent on the
 * link for `heartbeatMs`, carrying this region's health toward the peer.
 */
import type { Clock, TimerHandle } from '../infra/clock.js';
import { PROTOCOL_VERSION } from './codec.js';
import type { Transport } from './link.js';
import type { PeerHealth } from './types.js';

export const DEFAULT_HEARTBEAT_MS = 100;
export const DEFAULT_MISSED_MAX = 5;

export class HeartbeatSender {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly heartbeatMs: number,
    private readonly transport: Transport,
    private readonly health: () => PeerHealth,
  ) {}

  start(): void {
    this.arm();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(): void {
    const idleMs = this.clock.monoMs() - this.transport.lastSentMs();
    this.timer = this.clock.setTimer(Math.max(0, this.heartbeatMs - idleMs), () => this.tick());
  }

  private tick(): void {
    this.timer = null;
    if (this.clock.monoMs() - this.transport.lastSentMs() >= this.heartbeatMs) {
      this.transport.send({ t: 'hb', v: PROTOCOL_VERSION, ...this.health() });
    }
    this.arm();
  }
}
