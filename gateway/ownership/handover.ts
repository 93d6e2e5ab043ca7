/**
 * Failback as a handover with a short, bounded write pause (DESIGN: "Handover under load").
 * Waiting for an instant where the whole log's lag is zero and a fresh digest comparison is
 * equal never comes under steady traffic over a WAN; instead, per partition:
 *  1. pre-check (`ready`, synchronous, on the agent's tick): the preferred region's link has
 *     been up for at least a lease (its boot quiet period is over), it needs no repair, and
 *     it is at most HANDOVER_LAG_ENTRIES_MAX entries behind;
 *  2. the agent stops writes and renewals of the partition and calls `begin`;
 *  3. `begin` waits until the writes already running on the partition finished (their
 *     entries are in our log), until the target acked our log through its head as of then,
 *     and until the partition's Merkle roots are equal at both ends (nothing else writes it
 *     now, so they must be, unless the target diverged);
 *  4. then the agent asks the witness for a *released* failback: it grants the target epoch
 *     + 1 and forgets its promise to us; we tell the target (`OWNER_TOPIC`), which renews at
 *     once (our confirmation of it frees the promise it had made us).
 * Any step that fails or takes longer than HANDOVER_DRAIN_MS_MAX aborts the handover: writes
 * resume under our lease, and the agent backs off before trying again.
 */
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';

/** The target may be this far behind our log when a handover starts (it drains during the pause). */
export const HANDOVER_LAG_ENTRIES_MAX = 2000;
/** Longest drain (running writes, acks, digest comparison) before the handover is abandoned. */
export const HANDOVER_DRAIN_MS_MAX = 2000;
/** Handovers draining at once. */
export const HANDOVERS_IN_FLIGHT_MAX = 64;

/** The replicator's view of one peer, as far as a handover needs it. */
export interface HandoverPeerStatus {
  readonly region: string;
  readonly state: 'up' | 'suspect' | 'down';
  readonly lagEntries: number;
  readonly ackedSeq: number | null;
  readonly needsRepair: boolean;
}

export interface HandoverDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * A target whose link came up less than this long ago may still be in its boot quiet
   * period (it votes for nobody, itself included, for leaseMs after it started): handing a
   * partition to it then would pause writes until its quiet period ends.
   */
  readonly targetUpMsMin: number;
  /** Monotonic ms since which `peer`'s link has been up (null: not up). */
  upSinceMs(peer: string): number | null;
  peers(): readonly HandoverPeerStatus[];
  /** Resolves true once `peer` acked our log through `seq`; false on timeout or link down. */
  waitForAck(peer: string, seq: number, timeoutMs: number): Promise<boolean>;
  /** Partition roots equal at both ends; null without anti-entropy (then acks alone decide). */
  readonly compare: ((peer: string, keyspace: string, partition: number) => Promise<boolean>) | null;
  /**
   * Removes the partition's fence in this region's store, resolved once the store ran it: the
   * last step of the drain, before the witness is asked for the released grant (which hands
   * the partition over before this region's lease would have ended). A write of ours that was
   * still queued in the store ran before it; any later one is refused there. Absent: no fence.
   */
  readonly closeFence?: (keyspace: string, partition: number) => Promise<void>;
  /** The agent's side: the drain is done / the handover is abandoned. */
  drained(keyspace: string, partition: number): void;
  aborted(keyspace: string, partition: number): void;
  readonly drainMsMax?: number;
  readonly inFlightMax?: number;
}

/** Writes running per partition (from the authority check to the answer), and waits for none. */
export class InflightWrites {
  private readonly counts = new Map<string, number>();
  private readonly idle = new Map<string, Array<() => void>>();

  /** A write of (keyspace, partition) starts; call the returned function when it answered. */
  begin(keyspace: string, partition: number): () => void {
    const key = `${keyspace}/${partition}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const n = (this.counts.get(key) ?? 1) - 1;
      if (n > 0) { this.counts.set(key, n); return; }
      this.counts.delete(key);
      const waiters = this.idle.get(key);
      this.idle.delete(key);
      for (const w of waiters ?? []) w();
    };
  }

  count(keyspace: string, partition: number): number {
    return this.counts.get(`${keyspace}/${partition}`) ?? 0;
  }

  /** Resolves once no write of the partition runs (at once when none does). */
  whenIdle(keyspace: string, partition: number): Promise<void> {
    const key = `${keyspace}/${partition}`;
    if (!this.counts.has(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.idle.get(key) ?? [];
      list.push(resolve);
      this.idle.set(key, list);
    });
  }
}

class HandoverAbandoned extends Error {
  override name = 'HandoverAbandoned';
}

export class HandoverDriver {
  readonly inflight = new InflightWrites();
  private readonly running = new Set<string>();
  private readonly drainMsMax: number;
  private readonly inFlightMax: number;
  completed = 0;
  abandoned = 0;

  constructor(private readonly deps: HandoverDeps) {
    this.drainMsMax = deps.drainMsMax ?? HANDOVER_DRAIN_MS_MAX;
    this.inFlightMax = deps.inFlightMax ?? HANDOVERS_IN_FLIGHT_MAX;
  }

  /** Pre-check: may a handover of a partition to `target` start now? */
  ready(target: string): boolean {
    if (this.running.size >= this.inFlightMax) return false;
    const upSince = this.deps.upSinceMs(target);
    if (upSince === null || this.deps.clock.monoMs() - upSince < this.deps.targetUpMsMin) return false;
    const peer = this.deps.peers().find((s) => s.region === target);
    return !!peer && peer.state === 'up' && !peer.needsRepair && peer.ackedSeq !== null && peer.lagEntries <= HANDOVER_LAG_ENTRIES_MAX;
  }

  /** The agent stopped the partition: drain it to `target`, then report drained or aborted. */
  begin(keyspace: string, partition: number, target: string): void {
    const key = `${keyspace}/${partition}`;
    if (this.running.has(key)) return;
    this.running.add(key);
    const t0 = this.deps.clock.monoMs();
    this.drain(keyspace, partition, target, t0 + this.drainMsMax).then(() => {
      this.completed++;
      this.deps.log.info({ keyspace, partition, target, drainMs: Math.round(this.deps.clock.monoMs() - t0) }, 'handover drained: asking the witness for the released failback');
      this.deps.drained(keyspace, partition);
    }, (err: Error) => {
      this.abandoned++;
      this.deps.log.warn({ keyspace, partition, target, why: err.message }, 'handover abandoned: writes resume here, retried later');
      this.deps.aborted(keyspace, partition);
    }).finally(() => this.running.delete(key));
  }

  runningCount(): number {
    return this.running.size;
  }

  /**
   * The target acked our log through its head as it was once the partition's writes were
   * done, then the partition's roots must be equal at both ends (nothing else writes it now).
   * Comparing before the ack does not save time: the root request overtakes the apply.
   * Without anti-entropy the ack alone decides.
   */
  private async drain(keyspace: string, partition: number, target: string, deadlineMs: number): Promise<void> {
    const left = () => deadlineMs - this.deps.clock.monoMs();
    await this.within(this.inflight.whenIdle(keyspace, partition), left(), 'writes still running');
    const peer = this.deps.peers().find((s) => s.region === target);
    if (!peer || peer.state !== 'up' || peer.ackedSeq === null) throw new HandoverAbandoned(`link to ${target} not up`);
    const head = peer.ackedSeq + peer.lagEntries;
    if (!(await this.deps.waitForAck(target, head, Math.max(1, left())))) throw new HandoverAbandoned(`${target} did not ack through ${head} in time`);
    if (this.deps.compare) {
      const equal = await this.within(this.deps.compare(target, keyspace, partition), left(), 'digest comparison too slow');
      if (!equal) throw new HandoverAbandoned(`partition digests differ at ${target}`);
    }
    if (left() <= 0) throw new HandoverAbandoned('drain took too long');
    // (abandoned after this: the lease's next renewal sets the fence again)
    if (this.deps.closeFence) await this.within(this.deps.closeFence(keyspace, partition), left(), 'the fence was not removed in time');
  }

  private within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    if (ms <= 0) return Promise.reject(new HandoverAbandoned(what));
    return new Promise<T>((resolve, reject) => {
      const timer = this.deps.clock.setTimer(ms, () => reject(new HandoverAbandoned(what)));
      p.then((v) => { timer.cancel(); resolve(v); }, (err: unknown) => { timer.cancel(); reject(err instanceof Error ? err : new Error(String(err))); });
    });
  }
}
