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

/** Control topic of the link's round-trip probe: `{ ping: t }` is echoed at once as `{ pong: t }`. */
export const RTT_TOPIC = 'rtt';
/** A probe goes out this often while its answer came back. */
export const RTT_PROBE_MS = 1_000;
/** An unanswered probe is given up after this long and a new one sent (the last measured RTT stays). */
export const RTT_PROBE_TIMEOUT_MS = 10_000;
/** Peer probes echoed at most per second (a peer probes once per RTT_PROBE_MS): a flood is not answered in kind. */
export const RTT_ECHOES_PER_S_MAX = 10;
/** No echo while more than this waits in the link's send buffer (a peer that probes and does not read). */
export const RTT_ECHO_BUFFER_BYTES_MAX = 64 * 1024;

/**
 * Measures the link's round trip: every `RTT_PROBE_MS` one `rtt` control frame carrying this
 * side's monotonic time goes out; the peer echoes it from its frame handler, before any
 * store work, so the measure is the network both ways plus the two event loops' frame
 * handling, never a batch's apply time. One probe is outstanding at a time; an echo of
 * anything but the outstanding probe is ignored. A peer that does not know the topic (an
 * older gateway) never answers: the RTT stays null.
 */
export class RttProbe {
  private timer: TimerHandle | null = null;
  private outstanding: number | null = null;
  private last: number | null = null;
  private echoWindowMs = Number.NEGATIVE_INFINITY;
  private echoes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly transport: Transport,
    private readonly intervalMs = RTT_PROBE_MS,
    private readonly timeoutMs = RTT_PROBE_TIMEOUT_MS,
  ) {}

  start(): void {
    this.tick();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** The last measured round trip in ms (null until a probe came back). */
  rttMs(): number | null {
    return this.last;
  }

  /** Handles one frame of the topic (untrusted body); returns false for a body that is neither a probe nor an echo. */
  onFrame(body: unknown): boolean {
    if (typeof body !== 'object' || body === null) return false;
    const { ping, pong } = body as { ping?: unknown; pong?: unknown };
    if (typeof ping === 'number' && Number.isFinite(ping)) {
      const now = this.clock.monoMs();
      if (now - this.echoWindowMs >= 1000) { this.echoWindowMs = now; this.echoes = 0; }
      if (this.echoes >= RTT_ECHOES_PER_S_MAX || this.transport.bufferedBytes() > RTT_ECHO_BUFFER_BYTES_MAX) return true; // bounded: not answered
      this.echoes++;
      this.transport.send({ t: 'ctl', v: PROTOCOL_VERSION, topic: RTT_TOPIC, body: { pong: ping } });
      return true;
    }
    if (typeof pong !== 'number' || !Number.isFinite(pong)) return false;
    if (pong !== this.outstanding) return true; // an echo given up on, or not ours
    this.outstanding = null;
    this.last = Math.max(0, this.clock.monoMs() - pong);
    return true;
  }

  private tick(): void {
    this.timer = null;
    const now = this.clock.monoMs();
    if (this.outstanding === null || now - this.outstanding >= this.timeoutMs) {
      this.outstanding = now;
      this.transport.send({ t: 'ctl', v: PROTOCOL_VERSION, topic: RTT_TOPIC, body: { ping: now } });
    }
    this.timer = this.clock.setTimer(this.intervalMs, () => this.tick());
  }
}
