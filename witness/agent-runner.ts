import type { Clock, TimerHandle } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import type { OwnershipAgent } from './agent.js';
import type { WitnessApi } from './client.js';
import { GRANTS_PER_CALL_MAX, type ConfirmReply, type ConfirmRequest, type VoteTransport } from './protocol.js';
import { WITNESS_VOTER } from './topology.js';

export const DEFAULT_TICK_MS = 20;
export const DEFAULT_INFLIGHT_MAX = 256;

export interface RunnerOptions {
  readonly agent: OwnershipAgent;
  readonly clock: Clock;
  /** Peer confirmations over the replication link. */
  readonly transport: VoteTransport;
  readonly witness: WitnessApi;
  readonly log: Logger;
  readonly tickMs?: number;
  /** Timeout of one peer confirmation. */
  readonly voteTimeoutMs: number;
  /** Requests in flight at once; over it, new ones are skipped (a skipped renewal is safe). */
  readonly inflightMax?: number;
}

/**
 * Drives an `OwnershipAgent` with real timers and I/O: the gateway creates one per region,
 * feeds link states through `agent.setPeerLink`, answers peers' requests with
 * `onPeerConfirmRequest`, and asks `agent.authority()` on the write path.
 */
export class OwnershipRunner {
  private timer: TimerHandle | null = null;
  private inflight = 0;
  skipped = 0;

  constructor(private readonly o: RunnerOptions) {}

  start(): void {
    if (this.timer) return;
    const loop = () => {
      this.tick();
      this.timer = this.o.clock.setTimer(this.o.tickMs ?? DEFAULT_TICK_MS, loop);
    };
    loop();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** A peer's ConfirmRequest arrived on the replication link: the reply goes back on it. */
  onPeerConfirmRequest(req: ConfirmRequest): ConfirmReply {
    return this.o.agent.onConfirmRequest(req, this.o.clock.monoMs());
  }

  tick(): void {
    const { agent, clock, witness } = this.o;
    const out = agent.tick(clock.monoMs());
    for (const { voter, request } of out.confirms) {
      if (voter === WITNESS_VOTER) this.send(() => witness.confirm(request), (r) => agent.onConfirmReply(r, clock.monoMs()));
      else this.send(() => this.o.transport.ask(voter, request, this.o.voteTimeoutMs), (r) => r && agent.onConfirmReply(r, clock.monoMs()));
    }
    const many = witness.grants?.bind(witness);
    if (many && out.grants.length > 1) {
      // a failover of many partitions: one call per GRANTS_PER_CALL_MAX, not one per partition
      for (let i = 0; i < out.grants.length; i += GRANTS_PER_CALL_MAX) {
        const chunk = out.grants.slice(i, i + GRANTS_PER_CALL_MAX);
        this.send(() => many(chunk), (replies) => { for (const r of replies) agent.onGrantReply(r, clock.monoMs()); });
      }
    } else {
      for (const g of out.grants) this.send(() => witness.grant(g), (r) => agent.onGrantReply(r, clock.monoMs()));
    }
    if (out.heartbeat) {
      const hb = out.heartbeat;
      this.send(() => witness.heartbeat(hb), (r) => agent.onHeartbeatReply(r, clock.monoMs()));
    }
  }

  private send<T>(call: () => Promise<T>, onReply: (reply: T) => void): void {
    if (this.inflight >= (this.o.inflightMax ?? DEFAULT_INFLIGHT_MAX)) {
      this.skipped++;
      return;
    }
    this.inflight++;
    call().then(onReply, (err: Error) => this.o.log.debug({ err: err.message }, 'ownership request failed'))
      .finally(() => { this.inflight--; });
  }
}
