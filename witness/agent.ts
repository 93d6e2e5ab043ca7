import type { AgentHooks, Authority, LinkState, Outbox, PeerClass } from './agent-types.js';
import { PromiseTable, type KnownOwner } from './promises.js';
import type { ConfirmItem, ConfirmReply, ConfirmRequest, GrantReply, GrantRequest, HeartbeatReply, OwnerEntry } from './protocol.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { WITNESS_VOTER, getPartition, isMajority, partitionKey, weightOf, type PartitionSpec, type Topology } from './topology.js';

export const DEFAULT_ROUNDS_PENDING_MAX = 4;
const ROUND_SEQ_SPAN = 2 ** 20;
/** A write refused during a handover is worth retrying this soon. */
export const HANDOVER_RETRY_MS = 100;
/** A region owns a partition this long before it hands it back (the witness's default hysteresis). */
export const DEFAULT_HANDOVER_MIN_OWNED_MS = 2000;
/** Wait after a handover that did not complete, doubling up to the max. */
export const HANDOVER_BACKOFF_MS_MIN = 1000;
export const HANDOVER_BACKOFF_MS_MAX = 30_000;

export interface AgentOptions extends AgentHooks {
  readonly region: string;
  readonly topology: Topology;
  readonly leaseMs: number;
  readonly driftMarginMs: number;
  readonly bootMonoMs: number;
  /**
   * Random per process start (0..2^32-1): keeps round ids unique across restarts, so a late
   * reply to a previous incarnation's round is never counted for a new one.
   */
  readonly incarnation: number;
  /** Confirms nothing this long after boot (default leaseMs): promises were forgotten. */
  readonly bootQuietMs?: number;
  /** Renewal period while leased (default leaseMs / 3). */
  readonly renewIntervalMs?: number;
  /** Retry period while a lease is being acquired (default leaseMs / 10). */
  readonly acquireRetryMs?: number;
  /** Period of heartbeats and of grant requests to the witness (default leaseMs / 3). */
  readonly witnessHeartbeatMs?: number;
  /** Witness counts as unreachable after this long without an answer (default leaseMs). */
  readonly witnessSilenceMs?: number;
  /** Renewal rounds awaiting replies; older rounds' replies are ignored. */
  readonly roundsPendingMax?: number;
  /** Owners/epochs the gateway persisted before a restart. */
  readonly initialOwners?: readonly OwnerEntry[];
  /** No handover of a partition owned for less than this (default DEFAULT_HANDOVER_MIN_OWNED_MS). */
  readonly handoverMinOwnedMs?: number;
  /**
   * The region's coordinator term (its fencing token) when the region runs several instances:
   * sent with every heartbeat, confirmation request and grant request, so the witness refuses
   * a released failback of a term older than the region's latest. Absent: nothing is sent.
   */
  readonly term?: number;
}

/**
 * A handover in progress (failback): writes and renewals of the partition stopped;
 * `draining` until the gateway confirmed the target has everything, `drained` until the
 * released grant request is sent, `requested` until the witness answered.
 */
export interface Release {
  readonly target: string;
  phase: 'draining' | 'drained' | 'requested';
  readonly sinceMs: number;
}

interface PartitionState {
  readonly spec: PartitionSpec;
  known: KnownOwner;
  leaseUntilMs: number;
  nextGrantAtMs: number;
  release: Release | null;
  /** When this region learnt it owns the partition (NaN: set at the next tick). */
  ownedSinceMs: number;
  nextHandoverAtMs: number;
  handoverBackoffMs: number;
}

interface Asked {
  epoch: number;
  voters: Set<string>;
  /**
   * Our own vote waits for this region: we promised it (an older owner) the partition; its
   * confirmation of us at the newer epoch shows it gave that lease up, freeing the promise.
   */
  waitingFor?: string;
}

interface Round {
  readonly sentAtMs: number;
  /** partition key → epoch asked and the voters that confirmed it. */
  readonly items: Map<string, Asked>;
}

/**
 * A region's side of the ownership protocol (pure: time comes in as monotonic ms). It votes
 * for peers, renews its own leases through a majority of vote weight, classifies failures,
 * asks the witness for takeovers and failbacks, and answers the write path's `authority`.
 */
export class OwnershipAgent {
  readonly region: string;
  private readonly t: Topology;
  private readonly parts = new Map<string, PartitionState>();
  private readonly promises: PromiseTable;
  private readonly links = new Map<string, LinkState>();
  private readonly rounds = new Map<number, Round>();
  private roundSeq = 0;
  private nextRoundAtMs = Number.NEGATIVE_INFINITY;
  private nextHeartbeatAtMs = Number.NEGATIVE_INFINITY;
  private witnessOkAtMs = Number.NEGATIVE_INFINITY;
  private witnessHeard = new Set<string>();
  private witnessViable = new Set<string>();
  private readonly renewMs: number;
  private readonly acquireMs: number;
  private readonly heartbeatMs: number;
  private readonly witnessSilenceMs: number;
  private readonly roundsMax: number;
  private readonly handoverMinOwnedMs: number;

  constructor(private readonly o: AgentOptions) {
    if (!(o.driftMarginMs >= 0 && o.driftMarginMs < o.leaseMs)) throw new Error('driftMarginMs must be in [0, leaseMs)');
    if (!(Number.isInteger(o.incarnation) && o.incarnation >= 0 && o.incarnation < 2 ** 32)) throw new Error('incarnation must be a 32-bit integer');
    if (!o.topology.regions.includes(o.region)) throw new Error(`unknown region ${o.region}`);
    if (o.term !== undefined && !(Number.isSafeInteger(o.term) && o.term >= 1)) throw new Error('term must be a positive integer (the coordinator\'s fencing token)');
    this.region = o.region;
    this.t = o.topology;
    this.renewMs = o.renewIntervalMs ?? o.leaseMs / 3;
    this.acquireMs = o.acquireRetryMs ?? o.leaseMs / 10;
    this.heartbeatMs = o.witnessHeartbeatMs ?? o.leaseMs / 3;
    this.witnessSilenceMs = o.witnessSilenceMs ?? o.leaseMs;
    this.roundsMax = o.roundsPendingMax ?? DEFAULT_ROUNDS_PENDING_MAX;
    this.handoverMinOwnedMs = o.handoverMinOwnedMs ?? DEFAULT_HANDOVER_MIN_OWNED_MS;
    this.promises = new PromiseTable(o.leaseMs, o.bootMonoMs, o.bootQuietMs ?? o.leaseMs);
    for (const spec of this.t.partitions.values()) {
      this.parts.set(spec.key, {
        spec, known: { owner: spec.nodes[0] as string, epoch: 0 }, leaseUntilMs: Number.NEGATIVE_INFINITY, nextGrantAtMs: 0,
        release: null, ownedSinceMs: Number.NaN, nextHandoverAtMs: 0, handoverBackoffMs: HANDOVER_BACKOFF_MS_MIN,
      });
    }
    for (const r of this.t.regions) if (r !== o.region) this.links.set(r, 'down');
    for (const e of o.initialOwners ?? []) this.learn(e.keyspace, e.partition, e.owner, e.epoch);
  }

  setPeerLink(peer: string, state: LinkState): void {
    if (this.links.has(peer)) this.links.set(peer, state);
  }

  /** Everything due at `nowMs`: renewal round, heartbeat, takeover and failback requests. */
  tick(nowMs: number): Outbox {
    const heartbeat = nowMs >= this.nextHeartbeatAtMs ? this.heartbeatDue(nowMs) : null;
    const confirms = nowMs >= this.nextRoundAtMs ? this.startRound(nowMs) : [];
    return { confirms, grants: this.grantsDue(nowMs), heartbeat };
  }

  /** A peer region asks us to confirm its leases (the gateway calls this from the link). */
  onConfirmRequest(req: ConfirmRequest, nowMs: number): ConfirmReply {
    const items = req.items.map((item) => {
      const st = this.parts.get(partitionKey(item.keyspace, item.partition));
      if (!st || req.from === this.region) return { ...item, ok: false, owner: req.from, reason: 'unknown-partition' as const };
      if (item.epoch > st.known.epoch) this.setKnown(st, req.from, item.epoch);
      return this.promises.vote(req.from, item, st.known, nowMs);
    });
    return { v: PROTOCOL_VERSION, voter: this.region, round: req.round, items };
  }

  onConfirmReply(reply: ConfirmReply, nowMs: number): void {
    const round = this.rounds.get(reply.round);
    const voterKnown = this.t.weights.has(reply.voter) && reply.voter !== this.region;
    for (const v of reply.items) {
      const key = partitionKey(v.keyspace, v.partition);
      const st = this.parts.get(key);
      if (!st) continue;
      if (!v.ok) {
        if (v.epoch > st.known.epoch) this.setKnown(st, v.owner, v.epoch);
        continue;
      }
      const asked = round?.items.get(key);
      if (!round || !asked || !voterKnown || v.epoch !== asked.epoch) continue;
      asked.voters.add(reply.voter);
      if (asked.waitingFor === reply.voter) this.selfVoteFreedBy(st, asked, reply.voter, nowMs);
      this.maybeExtend(st, round.sentAtMs, asked, nowMs);
    }
  }

  onGrantReply(reply: GrantReply, nowMs: number): void {
    const st = this.parts.get(partitionKey(reply.keyspace, reply.partition));
    if (!st) return;
    if (reply.epoch > st.known.epoch) this.setKnown(st, reply.owner, reply.epoch);
    else if (st.release?.phase === 'requested' && reply.outcome !== 'granted') this.releaseRefused(st, nowMs, reply.retryAfterMs);
    if (reply.retryAfterMs !== undefined) st.nextGrantAtMs = nowMs + Math.max(reply.retryAfterMs, this.acquireMs);
  }

  /**
   * The previous owner tells us the witness granted us the partition (a handover): taken
   * only from the owner we know, for exactly the next epoch; the lease still needs a majority.
   */
  learnFromPreviousOwner(keyspace: string, partition: number, owner: string, epoch: number, from: string): boolean {
    const st = this.parts.get(partitionKey(keyspace, partition));
    if (!st || owner !== this.region || from !== st.known.owner || epoch !== st.known.epoch + 1) return false;
    this.setKnown(st, owner, epoch);
    return true;
  }

  /** The handover's drain is complete: the released grant request goes out at the next tick. */
  releaseDrained(keyspace: string, partition: number): boolean {
    const st = this.parts.get(partitionKey(keyspace, partition));
    if (st?.release?.phase !== 'draining') return false;
    st.release.phase = 'drained';
    return true;
  }

  /**
   * The handover cannot complete (the target fell behind, digests differ, a timeout): writes
   * resume under the lease we still hold. Refused once the released request went out: then
   * only the witness's answer (or a newer epoch) ends the release.
   */
  abortRelease(keyspace: string, partition: number, nowMs: number): boolean {
    const st = this.parts.get(partitionKey(keyspace, partition));
    if (!st?.release || st.release.phase === 'requested') return false;
    st.release = null;
    this.backOffHandover(st, nowMs);
    this.nextRoundAtMs = Number.NEGATIVE_INFINITY;
    return true;
  }

  release(keyspace: string, partition: number): Readonly<Release> | null {
    return this.parts.get(partitionKey(keyspace, partition))?.release ?? null;
  }

  onHeartbeatReply(reply: HeartbeatReply, nowMs: number): void {
    this.witnessOkAtMs = nowMs;
    this.witnessHeard = new Set(reply.heard);
    this.witnessViable = new Set(reply.viable);
    for (const e of reply.owners) this.learn(e.keyspace, e.partition, e.owner, e.epoch);
  }

  /** Learns an owner/epoch from any trusted source; only newer epochs are taken. */
  learn(keyspace: string, partition: number, owner: string, epoch: number): boolean {
    const st = this.parts.get(partitionKey(keyspace, partition));
    if (!st || epoch <= st.known.epoch || !this.t.regions.includes(owner)) return false;
    this.setKnown(st, owner, epoch);
    return true;
  }

  authority(keyspace: string, partition: number, nowMs: number): Authority {
    const st = this.state(keyspace, partition);
    const { owner, epoch } = st.known;
    if (owner === this.region) {
      if (st.release) return { kind: 'unavailable', retryAfterMs: HANDOVER_RETRY_MS, reason: `handover to ${st.release.target}` };
      if (st.leaseUntilMs > nowMs) return { kind: 'owner', epoch, leaseRemainingMs: st.leaseUntilMs - nowMs };
      if (st.spec.onSplit === 'diverge' && !this.hasMajorityContact(nowMs)) return { kind: 'diverged', owner, epoch };
      return { kind: 'unavailable', retryAfterMs: this.acquireMs, reason: 'lease-pending' };
    }
    const link = this.links.get(owner) ?? 'down';
    if (st.spec.onSplit === 'diverge' && link !== 'up') return { kind: 'diverged', owner, epoch };
    if (link === 'down' && this.ownerLost(owner, nowMs)) return { kind: 'unavailable', retryAfterMs: this.renewMs, reason: 'failover-pending' };
    return { kind: 'redirect', region: owner, epoch };
  }

  classify(peer: string, nowMs: number): PeerClass {
    if ((this.links.get(peer) ?? 'down') !== 'down') return 'connected';
    const witnessUp = this.witnessReachable(nowMs);
    if (!witnessUp && [...this.links.values()].every((s) => s === 'down')) return 'isolated';
    if (!witnessUp) return 'unknown';
    return this.witnessHeard.has(peer) ? 'wan-cut' : 'peer-dead';
  }

  witnessReachable(nowMs: number): boolean {
    return nowMs - this.witnessOkAtMs <= this.witnessSilenceMs;
  }

  /** Milliseconds since the witness last answered (null: never since this agent started). */
  witnessAnswerAgeMs(nowMs: number): number | null {
    return this.witnessAnsweredOnce() ? Math.max(0, nowMs - this.witnessOkAtMs) : null;
  }

  /** The witness answered a heartbeat since this agent started (its reply lists every owner). */
  witnessAnsweredOnce(): boolean {
    return this.witnessOkAtMs > Number.NEGATIVE_INFINITY;
  }

  known(keyspace: string, partition: number): KnownOwner & { leaseUntilMs: number } {
    const st = this.state(keyspace, partition);
    return { ...st.known, leaseUntilMs: st.leaseUntilMs };
  }

  /** Every partition with what this region knows of it (status pages, checkers). */
  forEachPartition(fn: (spec: PartitionSpec, known: KnownOwner, leaseUntilMs: number) => void): void {
    for (const st of this.parts.values()) fn(st.spec, st.known, st.leaseUntilMs);
  }

  /** Earliest time `tick` has something to do (for a timer-driven runner). */
  nextWakeMs(): number {
    return Math.min(this.nextRoundAtMs, this.nextHeartbeatAtMs);
  }

  private state(keyspace: string, partition: number): PartitionState {
    const spec = getPartition(this.t, keyspace, partition);
    return this.parts.get(spec.key) as PartitionState;
  }

  private setKnown(st: PartitionState, owner: string, epoch: number): void {
    const wasMine = st.known.owner === this.region;
    st.known = { owner, epoch };
    st.leaseUntilMs = Number.NEGATIVE_INFINITY;
    if (st.release && owner !== this.region) st.handoverBackoffMs = HANDOVER_BACKOFF_MS_MIN;
    st.release = null;
    // Our lease is void from here on (the gateway acknowledges nothing after this point, see
    // WitnessAuthority.stillHolds): the promise we made ourselves protects nothing any more.
    if (wasMine && owner !== this.region) this.promises.release(st.spec.key, this.region);
    if (owner === this.region) {
      this.nextRoundAtMs = Number.NEGATIVE_INFINITY;
      st.ownedSinceMs = Number.NaN;
    }
    this.o.onOwnerChanged?.(st.spec.keyspace, st.spec.partition, owner, epoch);
  }

  /** `voter` (whom we promised the partition at an older epoch) confirmed us: that promise is void. */
  private selfVoteFreedBy(st: PartitionState, asked: Asked, voter: string, nowMs: number): void {
    const held = this.promises.get(st.spec.key);
    if (held && held.owner === voter && held.epoch < asked.epoch) this.promises.release(st.spec.key, voter);
    const item = { keyspace: st.spec.keyspace, partition: st.spec.partition, epoch: asked.epoch };
    if (!this.promises.vote(this.region, item, st.known, nowMs).ok) return;
    asked.voters.add(this.region);
    delete asked.waitingFor;
  }

  private beginRelease(st: PartitionState, target: string, nowMs: number): void {
    st.release = { target, phase: this.o.onReleaseBegun ? 'draining' : 'drained', sinceMs: nowMs };
    // no renewal of it from now on, not even one already on its way
    for (const round of this.rounds.values()) round.items.delete(st.spec.key);
    this.o.onReleaseBegun?.(st.spec.keyspace, st.spec.partition, target, st.known.epoch);
  }

  /**
   * The witness refused a released request. It did not grant, yet a reply to another copy
   * of the request might still say it did; so the old lease is not trusted again: writes
   * resume only under a lease confirmed anew (voters that learnt the newer epoch refuse).
   */
  private releaseRefused(st: PartitionState, nowMs: number, retryAfterMs?: number): void {
    st.release = null;
    st.leaseUntilMs = Number.NEGATIVE_INFINITY;
    this.backOffHandover(st, nowMs, retryAfterMs);
    this.nextRoundAtMs = Number.NEGATIVE_INFINITY;
  }

  private backOffHandover(st: PartitionState, nowMs: number, atLeastMs = 0): void {
    st.nextHandoverAtMs = nowMs + Math.max(st.handoverBackoffMs, atLeastMs);
    st.handoverBackoffMs = Math.min(st.handoverBackoffMs * 2, HANDOVER_BACKOFF_MS_MAX);
  }

  private heartbeatDue(nowMs: number) {
    this.nextHeartbeatAtMs = nowMs + this.heartbeatMs;
    const peersUp = [...this.links].filter(([, s]) => s !== 'down').map(([p]) => p);
    return { v: PROTOCOL_VERSION, from: this.region, ...this.termField(), peersUp } as const;
  }

  private startRound(nowMs: number): Array<{ voter: string; request: ConfirmRequest }> {
    const owned = [...this.parts.values()].filter((st) => st.known.owner === this.region && !st.release);
    const allLeased = owned.every((st) => st.leaseUntilMs - nowMs > this.renewMs);
    this.nextRoundAtMs = nowMs + (allLeased ? this.renewMs : this.acquireMs);
    const round: Round = { sentAtMs: nowMs, items: new Map() };
    const items: ConfirmItem[] = [];
    for (const st of owned) {
      const item = { keyspace: st.spec.keyspace, partition: st.spec.partition, epoch: st.known.epoch };
      const self = this.promises.vote(this.region, item, st.known, nowMs);
      if (self.ok) {
        items.push(item);
        round.items.set(st.spec.key, { epoch: item.epoch, voters: new Set([this.region]) });
        continue;
      }
      // Promised to an older owner (a handover to us): ask anyway; its confirmation frees us.
      const held = this.promises.blockingFor(st.spec.key, this.region, nowMs);
      if (self.reason !== 'promised-other' || !held || held.epoch >= item.epoch || !this.links.has(held.owner)) continue;
      items.push(item);
      round.items.set(st.spec.key, { epoch: item.epoch, voters: new Set(), waitingFor: held.owner });
    }
    if (items.length === 0) return [];
    this.roundSeq = (this.roundSeq + 1) % ROUND_SEQ_SPAN;
    const seq = this.o.incarnation * ROUND_SEQ_SPAN + this.roundSeq;
    this.rounds.set(seq, round);
    for (const old of this.rounds.keys()) if (this.rounds.size > this.roundsMax) this.rounds.delete(old);
    for (const [key, asked] of round.items) this.maybeExtend(this.parts.get(key) as PartitionState, nowMs, asked, nowMs);
    const request: ConfirmRequest = { v: PROTOCOL_VERSION, from: this.region, ...this.termField(), round: seq, items };
    return this.t.voters.filter((v) => v !== this.region).map((voter) => ({ voter, request }));
  }

  private maybeExtend(st: PartitionState, sentAtMs: number, asked: { epoch: number; voters: Set<string> }, nowMs: number): void {
    if (st.known.owner !== this.region || st.known.epoch !== asked.epoch) return;
    if (!isMajority(this.t, weightOf(this.t, asked.voters))) return;
    const until = sentAtMs + this.o.leaseMs - this.o.driftMarginMs;
    if (until <= st.leaseUntilMs || until <= nowMs) return;
    st.leaseUntilMs = until;
    this.o.onLeaseRenewed?.(st.spec.keyspace, st.spec.partition, st.known.epoch, until - nowMs);
  }

  private grantsDue(nowMs: number): GrantRequest[] {
    const out: GrantRequest[] = [];
    if (!this.witnessReachable(nowMs)) return out;
    for (const st of this.parts.values()) {
      if (Number.isNaN(st.ownedSinceMs)) st.ownedSinceMs = nowMs;
      if (nowMs < st.nextGrantAtMs || !st.spec.nodes.includes(this.region)) continue;
      const mine = st.known.owner === this.region;
      const req = !mine ? this.takeoverRequest(st, nowMs) : st.release ? this.releasedRequest(st) : this.failbackRequest(st, nowMs);
      if (!req) continue;
      st.nextGrantAtMs = nowMs + this.heartbeatMs;
      out.push(req);
    }
    return out;
  }

  private takeoverRequest(st: PartitionState, nowMs: number): GrantRequest | null {
    if ((this.links.get(st.known.owner) ?? 'down') !== 'down' || !this.ownerLost(st.known.owner, nowMs)) return null;
    return { v: PROTOCOL_VERSION, from: this.region, ...this.termField(), keyspace: st.spec.keyspace, partition: st.spec.partition, knownEpoch: st.known.epoch, reason: 'owner-unreachable' };
  }

  /**
   * Failback is a handover: when a preferred region is up, viable and close behind, stop
   * the partition (beginRelease) and ask the witness only once it is drained.
   */
  private failbackRequest(st: PartitionState, nowMs: number): GrantRequest | null {
    if (!this.o.isCaughtUp || st.leaseUntilMs <= nowMs || nowMs < st.nextHandoverAtMs) return null;
    if (nowMs - st.ownedSinceMs < this.handoverMinOwnedMs) return null;
    const mine = st.spec.nodes.indexOf(this.region);
    const target = st.spec.nodes.slice(0, mine).find((r) => this.links.get(r) === 'up' && this.witnessViable.has(r) && this.o.isCaughtUp?.(st.spec.keyspace, st.spec.partition, r));
    if (!target) return null;
    this.beginRelease(st, target, nowMs);
    return this.releasedRequest(st);
  }

  /** The released grant request, once the drain is done (re-sent until the witness answers). */
  private releasedRequest(st: PartitionState): GrantRequest | null {
    const release = st.release;
    if (!release || release.phase === 'draining') return null;
    release.phase = 'requested';
    // drained: no write of ours is running; from here on the lease is given up for good
    st.leaseUntilMs = Number.NEGATIVE_INFINITY;
    return {
      v: PROTOCOL_VERSION, from: this.region, ...this.termField(), keyspace: st.spec.keyspace, partition: st.spec.partition,
      knownEpoch: st.known.epoch, reason: 'failback', target: release.target, released: true,
    };
  }

  /** `{ term }` for a region with a coordinator term, else nothing (the messages stay as before). */
  private termField(): { term?: number } {
    return this.o.term === undefined ? {} : { term: this.o.term };
  }

  /** The witness (reachable) says the owner cannot hold a lease any more. */
  private ownerLost(owner: string, nowMs: number): boolean {
    return this.witnessReachable(nowMs) && !this.witnessViable.has(owner);
  }

  private hasMajorityContact(nowMs: number): boolean {
    const contact = [this.region, ...[...this.links].filter(([, s]) => s !== 'down').map(([p]) => p)];
    if (this.witnessReachable(nowMs)) contact.push(WITNESS_VOTER);
    return isMajority(this.t, weightOf(this.t, contact));
  }
}
