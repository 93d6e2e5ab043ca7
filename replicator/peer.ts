/**
 * What this region knows about one peer across links: failure detector, the peer's acked
 * cursor into our log, sync-replica waiters, needs-repair flag, last reported health and
 * the current session (if a link is established).
 */
import type { Clock } from '../infra/clock.js';
import { AckWaiters } from './acks.js';
import { FailureDetector, type PeerStateChange } from './detector.js';
import type { PeerDialer } from './dialer.js';
import type { PeerSession } from './session.js';
import type { LinkState, PeerHealth, PeerStatus } from './types.js';

export interface PeerConfig {
  readonly region: string;
  readonly url: string;
  /** Every instance of the peer region (dialled in turn; its coordinator serves the link). */
  readonly urls?: readonly string[] | undefined;
}

export class Peer {
  readonly detector: FailureDetector;
  readonly waiters: AckWaiters;
  /** This region dials the peer (the lexicographically smaller region dials). */
  readonly dials: boolean;
  ackedSeq: number | null = null;
  needsRepair = false;
  /** Id of the current needs-repair mark (null when none): a repair clears only the mark it began under. */
  repairMark: string | null = null;
  remote: PeerHealth | null = null;
  session: PeerSession | null = null;
  linkState: LinkState = 'idle';
  lastCloseReason: string | null = null;
  dialer: PeerDialer | null = null;
  private behindSinceMs: number | null = null;

  constructor(
    readonly config: PeerConfig,
    ownRegion: string,
    private readonly clock: Clock,
    limits: { suspectMs: number; downMs: number; ackWaitersMax: number },
    onState: (change: PeerStateChange) => void,
  ) {
    this.dials = ownRegion < config.region;
    this.detector = new FailureDetector(config.region, clock, limits, onState);
    this.waiters = new AckWaiters(config.region, clock, limits.ackWaitersMax);
  }

  get region(): string {
    return this.config.region;
  }

  lagEntries(headSeq: number): number {
    return Math.max(0, headSeq - (this.ackedSeq ?? 0));
  }

  lagMs(): number {
    return this.behindSinceMs === null ? 0 : this.clock.monoMs() - this.behindSinceMs;
  }

  /** Re-evaluates whether the peer is behind our log head (starts or stops the lag clock). */
  updateBehind(headSeq: number): void {
    if (this.lagEntries(headSeq) === 0) this.behindSinceMs = null;
    else this.behindSinceMs ??= this.clock.monoMs();
  }

  status(headSeq: number): PeerStatus {
    return {
      region: this.region,
      state: this.detector.state(),
      linkState: this.linkState,
      dialer: this.dials,
      lagMs: this.lagMs(),
      lagEntries: this.lagEntries(headSeq),
      ackedSeq: this.ackedSeq,
      inflightBatches: this.session?.sender.inflight() ?? 0,
      heartbeatAgeMs: this.detector.silenceMs(),
      rttMs: this.session?.rtt.rttMs() ?? null,
      needsRepair: this.needsRepair,
      remote: this.remote,
      lastCloseReason: this.lastCloseReason,
    };
  }
}
