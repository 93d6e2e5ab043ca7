/**
 * Write authority backed by the witness: the region's OwnershipAgent (leases confirmed by a
 * majority of votes, epochs granted only by the witness) decides who takes a write.
 *  - single-master: the lease holder writes (fenced by epoch in the store for `fence`
 *    keyspaces); others redirect to it, or answer 503 when no owner holds a lease;
 *  - `diverge` partitions cut off from their owner take writes locally and are marked
 *    diverged with the split's start time, for the merge on heal;
 *  - multi-master + fence: every region writes while connected to the owner; the side that
 *    lost it stops (503) once it detects the split.
 * Owners/epochs are persisted in the region's Redis so a restarted gateway starts from them.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock, TimerHandle } from '../../infra/clock.js';
import type { Replicator } from '../../replicator/index.js';
import {
  buildTopology, OwnershipAgent, OwnershipRunner, WitnessClient, type OwnerEntry,
} from '../../witness/index.js';
import type { Authority, WriteAuthority } from '../authority.js';
import type { GatewayConfig, KeyspaceConfig } from '../config.js';
import type { PartitionMap } from '../partition-map.js';
import { LinkVoteTransport } from './vote-transport.js';
import { HandoverDriver } from './handover.js';
import { LEASE_LOSS_REASONS, LeaseLossTracker } from './lease-loss.js';
import type { WriteGuard } from '../http/context.js';

export const DECISIONS_KEPT_MAX = 1000;
/** Link topic on which a handed-over partition's previous owner tells the new one. */
export const OWNER_TOPIC = 'owner';

export interface OwnershipDecision {
  readonly at: number;
  readonly keyspace: string;
  readonly partition: number;
  readonly owner: string;
  readonly epoch: number;
  readonly previous: string | null;
}

export interface WitnessAuthorityDeps {
  readonly config: GatewayConfig;
  /** The signing secret (read at every request) and the mutual TLS towards an https:// witness (site-security.ts). */
  readonly witnessTransport?: { secret: () => string; tls?: { options: () => Record<string, unknown>; version: () => number } | undefined };
  readonly maps: ReadonlyMap<string, PartitionMap>;
  readonly replicator: Replicator;
  readonly redis: Redis;
  readonly ownersKey: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  /** The coordinator term (fencing token) this role runs under; absent for a single instance (witness/agent.ts `term`). */
  readonly term?: number;
  /** Sets the partition's fence until the lease's end (monotonic ms, absolute). */
  setFence(keyspace: string, partition: number, epoch: number, leaseEndMonoMs: number): Promise<void>;
  /** Ownership moved away from this region: remove the partition's fence. */
  dropFence(keyspace: string, partition: number): Promise<void>;
  /** Records an owner learnt from the witness in `ownersKey` (under the coordinator token: RegionStore.writeOwner); default a plain HSET. */
  writeOwner?(field: string, value: string): Promise<void>;
  /** Partition roots equal here and at `peer` (the handover's last check); null without anti-entropy. */
  readonly compareRoots: ((peer: string, keyspace: string, partition: number) => Promise<boolean>) | null;
  /** A diverged partition's owner is reachable again: merge it. */
  onHeal(keyspace: string, partition: number, owner: string, sinceMs: number): void;
}

/**
 * The partitions whose owner a peer's confirm request shows: the peer asks us to confirm its
 * lease at exactly the epoch we know it owns. `known` is undefined for a partition this
 * region does not have (the request answered it unknown-partition; skipped, never thrown on).
 */
export function ownersShownBy(
  req: { readonly from: string; readonly items: readonly { readonly keyspace: string; readonly partition: number; readonly epoch: number }[] },
  known: (keyspace: string, partition: number) => { owner: string; epoch: number } | undefined,
): string[] {
  const out: string[] = [];
  for (const item of req.items) {
    const k = known(item.keyspace, item.partition);
    if (k && k.owner === req.from && k.epoch === item.epoch) out.push(`${item.keyspace}/${item.partition}`);
  }
  return out;
}

export class WitnessAuthority implements WriteAuthority {
  readonly writeGuard: WriteGuard;
  private readonly handover: HandoverDriver;
  private readonly agent: OwnershipAgent;
  private readonly runner: OwnershipRunner;
  private readonly transport: LinkVoteTransport;
  private readonly diverged = new Map<string, { sinceMs: number; owner: string }>();
  private readonly decisions: OwnershipDecision[] = [];
  private readonly owners = new Map<string, { owner: string; epoch: number }>();
  private readonly peerStates = new Map<string, string>();
  private readonly peerUpSince = new Map<string, number>();
  /** Partitions whose owner was heard since this process started (beyond the persisted guess). */
  private readonly learnt = new Set<string>();
  /** While the agent replays the persisted owners: those are guesses, not learnt. */
  private booting = true;
  private readonly leaseLoss: LeaseLossTracker;
  private lossSweep: TimerHandle | null = null;

  static async create(deps: WitnessAuthorityDeps): Promise<WitnessAuthority> {
    const saved = await deps.redis.hgetall(deps.ownersKey).catch(() => ({} as Record<string, string>));
    const initialOwners: OwnerEntry[] = [];
    for (const [field, value] of Object.entries(saved)) {
      const [keyspace, p] = field.split('/');
      const [owner, epoch] = value.split(':');
      if (keyspace && p && owner && epoch) initialOwners.push({ keyspace, partition: Number(p), owner, epoch: Number(epoch) });
    }
    return new WitnessAuthority(deps, initialOwners);
  }

  private constructor(private readonly deps: WitnessAuthorityDeps, initialOwners: OwnerEntry[]) {
    const { config, clock } = deps;
    const topology = buildTopology({
      regions: config.cluster.regions,
      keyspaces: config.keyspaces.map((ks) => ({
        name: ks.name, partitions: ks.partitions, onSplit: ks.onSplit,
        nodes: Array.from({ length: ks.partitions }, (_, p) => deps.maps.get(ks.name)!.nodeList(p).map((n) => n.region)),
        sync: (ks.nodes ?? []).filter((n) => n.replication === 'sync').map((n) => n.region),
      })),
    });
    const leasesLost = new Counter({
      name: 'geogate_leases_lost_total', help: 'Write leases this region held that ended without renewal (expired) or whose partition moved away under them (taken-over)',
      labelNames: ['reason'], registers: [deps.registry],
      collect: () => { this.leaseLoss.sweep(clock.monoMs()); },
    });
    for (const reason of LEASE_LOSS_REASONS) leasesLost.inc({ reason }, 0);
    this.leaseLoss = new LeaseLossTracker((loss) => {
      leasesLost.inc({ reason: loss.reason });
      deps.log.warn({ partition: loss.partition, epoch: loss.epoch, reason: loss.reason, endedMsAgo: Math.round(loss.endedMsAgo) }, 'write lease lost');
    });
    for (const o of initialOwners) this.owners.set(`${o.keyspace}/${o.partition}`, { owner: o.owner, epoch: o.epoch });
    this.handover = new HandoverDriver({
      clock, log: deps.log, peers: () => deps.replicator.status(),
      // multi-master: both regions keep writing the partition during a handover (ownership only
      // decides who resolves its conflicts), so equal roots may never be seen under load; the
      // ack of our log through its head is the catch-up there
      compare: deps.compareRoots && ((peer, ks, p) => (this.deps.maps.get(ks)?.keyspace.writes === 'multi-master' ? Promise.resolve(true) : deps.compareRoots!(peer, ks, p))),
      targetUpMsMin: config.lease.leaseMs, upSinceMs: (peer) => this.peerUpSince.get(peer) ?? null,
      waitForAck: (peer, seq, ms) => deps.replicator.waitForAck(peer, seq, ms),
      closeFence: (ks, p) => deps.dropFence(ks, p),
      drained: (ks, p) => { if (this.agent.releaseDrained(ks, p)) this.runner.tick(); }, // ask the witness now, not at the next tick
      aborted: (ks, p) => { this.agent.abortRelease(ks, p, clock.monoMs()); },
    });
    this.writeGuard = {
      begin: (ks, p) => this.handover.inflight.begin(ks, p),
      stillHolds: (ks, p, epoch) => {
        const k = this.agent.known(ks, p);
        return k.owner === config.region && k.epoch === epoch && k.leaseUntilMs > clock.monoMs();
      },
    };
    this.agent = new OwnershipAgent({
      region: config.region, topology, leaseMs: config.lease.leaseMs, driftMarginMs: config.lease.driftMarginMs,
      bootMonoMs: clock.monoMs(), incarnation: randomInt(0, 2 ** 32 - 1), initialOwners,
      ...(deps.term === undefined ? {} : { term: deps.term }),
      isCaughtUp: (_ks, _p, region) => this.handover.ready(region),
      onReleaseBegun: (ks, p, target) => { this.leaseLoss.released(`${ks}/${p}`); this.handover.begin(ks, p, target); },
      onLeaseRenewed: (ks, p, epoch, remainingMs) => {
        this.leaseLoss.renewed(`${ks}/${p}`, epoch, clock.monoMs() + remainingMs, clock.monoMs());
        deps.setFence(ks, p, epoch, clock.monoMs() + remainingMs).catch((err: Error) => this.fenceFailed(err, ks, p));
      },
      onOwnerChanged: (ks, p, owner, epoch) => this.ownerChanged(ks, p, owner, epoch),
    });
    this.booting = false;
    this.agent.forEachPartition((spec, known) => {
      const key = `${spec.keyspace}/${spec.partition}`;
      if (!this.owners.has(key)) this.owners.set(key, { owner: known.owner, epoch: known.epoch });
    });
    this.transport = new LinkVoteTransport(deps.replicator, clock, deps.log, (req) => {
      const reply = this.runner.onPeerConfirmRequest(req);
      // a peer renewing a lease at the epoch we know: its owner is learnt
      for (const key of ownersShownBy(req, (ks, p) => {
        const spec = deps.maps.get(ks)?.keyspace;
        return spec && Number.isInteger(p) && p >= 0 && p < spec.partitions ? this.agent.known(ks, p) : undefined;
      })) this.learnt.add(key);
      return reply;
    });
    deps.replicator.registerTopic(OWNER_TOPIC, (peer, body) => this.onOwnerHint(peer, body));
    const t = deps.witnessTransport;
    const witness = new WitnessClient({
      url: config.witness!.url, secret: t?.secret ?? config.cluster.secret, timeoutMs: config.witness!.timeoutMs, nowMs: () => clock.nowMs(),
      ...(t?.tls ? { tls: t.tls.options, tlsVersion: t.tls.version } : {}),
    });
    this.runner = new OwnershipRunner({ agent: this.agent, clock, transport: this.transport, witness, log: deps.log, voteTimeoutMs: Math.max(50, Math.floor(config.lease.leaseMs / 3)) });
    for (const peer of config.peers) this.agent.setPeerLink(peer.region, 'down');
    deps.replicator.onPeerState((c) => {
      this.peerStates.set(c.peer, c.to);
      if (c.to === 'up') { if (!this.peerUpSince.has(c.peer)) this.peerUpSince.set(c.peer, clock.monoMs()); } else if (c.to === 'down') this.peerUpSince.delete(c.peer);
      this.agent.setPeerLink(c.peer, c.to);
      if (c.to === 'up') this.healDiverged(c.peer);
    });
    const leased = new Gauge({
      name: 'geogate_partitions_leased', help: 'Partitions this region holds a valid write lease for', registers: [deps.registry],
      collect: () => { leased.set(this.countLeased()); },
    });
    const reachable = new Gauge({
      name: 'geogate_witness_reachable', help: '1 while the witness answered this region within the witness silence bound (leaseMs), else 0',
      registers: [deps.registry],
      collect: () => { reachable.set(this.agent.witnessReachable(clock.monoMs()) ? 1 : 0); },
    });
    const answerAge = new Gauge({
      name: 'geogate_witness_last_answer_age_seconds', help: 'Seconds since the witness last answered this region (-1: never since start)',
      registers: [deps.registry],
      collect: () => { const age = this.agent.witnessAnswerAgeMs(clock.monoMs()); answerAge.set(age === null ? -1 : age / 1000); },
    });
    const divergedGauge = new Gauge({
      name: 'geogate_partitions_diverged', help: 'Partitions taking writes while cut off from their owner', registers: [deps.registry],
      collect: () => { divergedGauge.set(this.diverged.size); },
    });
  }

  start(): void {
    this.runner.start();
    const every = Math.max(50, Math.floor(this.deps.config.lease.leaseMs / 4));
    const sweep = () => { this.leaseLoss.sweep(this.deps.clock.monoMs()); this.lossSweep = this.deps.clock.setTimer(every, sweep); };
    this.lossSweep = this.deps.clock.setTimer(every, sweep);
  }

  stop(): void {
    this.lossSweep?.cancel();
    this.lossSweep = null;
    this.runner.stop();
    this.transport.close();
  }

  check(ks: KeyspaceConfig, partition: number): Authority {
    // one clock reading: the lease end is the agent's own (a second reading, later, would move it later)
    const nowMs = this.deps.clock.monoMs();
    const a = this.agent.authority(ks.name, partition, nowMs);
    if (ks.writes === 'multi-master') return this.multiMaster(ks, partition, a);
    switch (a.kind) {
      case 'owner': return { kind: 'local', epoch: a.epoch, fenced: ks.onSplit === 'fence', leaseEndMonoMs: nowMs + a.leaseRemainingMs };
      case 'redirect': return { kind: 'redirect', region: a.region };
      case 'diverged': this.markDiverged(ks.name, partition, a.owner); return { kind: 'local', epoch: a.epoch, fenced: false };
      case 'unavailable': return { kind: 'unavailable', retryAfterMs: a.retryAfterMs, reason: `no write lease for ${ks.name}/${partition}: ${a.reason}` };
    }
  }

  private multiMaster(ks: KeyspaceConfig, partition: number, a: ReturnType<OwnershipAgent['authority']>): Authority {
    if (a.kind === 'owner') return { kind: 'local', epoch: a.epoch, fenced: false };
    if (a.kind === 'diverged') { this.markDiverged(ks.name, partition, a.owner); return { kind: 'local', epoch: a.epoch, fenced: false }; }
    if (ks.onSplit === 'diverge') return { kind: 'local', epoch: 0, fenced: false };
    if (a.kind === 'redirect' && this.peerStates.get(a.region) === 'up') return { kind: 'local', epoch: a.epoch, fenced: false };
    const reason = a.kind === 'unavailable' ? a.reason : `cut off from owner ${a.region}`;
    return { kind: 'unavailable', retryAfterMs: 1000, reason: `multi-master fence partition ${ks.name}/${partition}: ${reason}` };
  }

  mayResolve(ks: KeyspaceConfig, partition: number): boolean {
    return this.agent.authority(ks.name, partition, this.deps.clock.monoMs()).kind === 'owner';
  }

  currentEpoch(ks: KeyspaceConfig, partition: number): number | undefined {
    return this.agent.known(ks.name, partition)?.epoch;
  }

  activeRegion(ks: KeyspaceConfig, partition: number): string | undefined {
    return this.agent.known(ks.name, partition)?.owner;
  }

  /**
   * Whether this region heard who owns the partition since it started: the witness answered
   * a heartbeat (its reply lists every owner), a lease of ours was confirmed, the owner
   * changed, or the owner asked us to confirm its lease at the epoch we know. Until then
   * the owner it knows is the one persisted before a restart (or the node list's first), a guess.
   */
  ownerLearnt(ks: KeyspaceConfig, partition: number): boolean {
    if (this.agent.witnessAnsweredOnce()) return true;
    if (this.learnt.has(`${ks.name}/${partition}`)) return true;
    return this.agent.known(ks.name, partition).leaseUntilMs > Number.NEGATIVE_INFINITY;
  }

  partitionState(ks: KeyspaceConfig, partition: number): string {
    const d = this.diverged.get(`${ks.name}/${partition}`);
    if (d) return 'diverged';
    if (this.agent.release(ks.name, partition)) return 'handover';
    const a = this.agent.authority(ks.name, partition, this.deps.clock.monoMs());
    if (a.kind === 'owner') return 'active';
    if (a.kind === 'diverged') return 'diverged';
    if (!this.ownerLearnt(ks, partition)) return 'unknown';
    if (a.kind === 'unavailable') return ks.onSplit === 'fence' ? 'fenced' : 'unavailable';
    return 'replicating';
  }

  status(): Record<string, unknown> {
    return {
      leased: this.countLeased(),
      handovers: { draining: this.handover.runningCount(), completed: this.handover.completed, abandoned: this.handover.abandoned },
      diverged: [...this.diverged.entries()].map(([key, d]) => ({ partition: key, owner: d.owner, since: new Date(d.sinceMs).toISOString() })),
      witness: this.deps.config.witness?.url,
      witnessReachable: this.agent.witnessReachable(this.deps.clock.monoMs()),
      unknownOwners: this.countUnknown(),
    };
  }

  recentDecisions(limit: number): OwnershipDecision[] {
    return this.decisions.slice(-limit);
  }

  private countUnknown(): number {
    let n = 0;
    for (const ks of this.deps.config.keyspaces) for (let p = 0; p < ks.partitions; p++) if (!this.ownerLearnt(ks, p)) n++;
    return n;
  }

  private countLeased(): number {
    let n = 0;
    const now = this.deps.clock.monoMs();
    this.agent.forEachPartition((spec) => { if (this.agent.authority(spec.keyspace, spec.partition, now).kind === 'owner') n++; });
    return n;
  }

  private markDiverged(keyspace: string, partition: number, owner: string): void {
    const key = `${keyspace}/${partition}`;
    if (this.diverged.has(key)) return;
    this.diverged.set(key, { sinceMs: this.deps.clock.nowMs(), owner });
    this.deps.log.warn({ keyspace, partition, owner }, 'partition diverged: taking writes while cut off from its owner; will merge on heal');
  }

  private healDiverged(peer: string): void {
    for (const [key, d] of [...this.diverged.entries()]) {
      // a partition this region owned while it heard nobody (after a restart, say) is merged
      // with the first peer that comes back; left marked, it stayed 'diverged' for good
      if (d.owner !== peer && d.owner !== this.deps.config.region) continue;
      this.diverged.delete(key);
      const [keyspace, p] = key.split('/');
      this.deps.log.info({ keyspace, partition: Number(p), owner: peer, sinceMs: d.sinceMs }, 'owner reachable again: merging diverged partition');
      this.deps.onHeal(keyspace!, Number(p), peer, d.sinceMs);
    }
  }

  /** The previous owner of a partition says the witness granted it to us (a handover). */
  private onOwnerHint(peer: string, body: unknown): void {
    const m = body as { keyspace?: unknown; partition?: unknown; owner?: unknown; epoch?: unknown } | null;
    if (!m || typeof m.keyspace !== 'string' || typeof m.partition !== 'number' || typeof m.owner !== 'string' || typeof m.epoch !== 'number') {
      this.deps.log.warn({ peer }, 'malformed owner hint dropped');
      return;
    }
    if (!this.deps.maps.has(m.keyspace) || !Number.isInteger(m.partition) || m.partition < 0 || m.partition >= this.deps.maps.get(m.keyspace)!.keyspace.partitions) {
      this.deps.log.warn({ peer, keyspace: m.keyspace, partition: m.partition }, 'owner hint for an unknown partition dropped');
      return;
    }
    if (this.agent.learnFromPreviousOwner(m.keyspace, m.partition, m.owner, m.epoch, peer)) this.runner.tick(); // renew now
  }

  /**
   * A fence write failed. The fences of a witness round go in one batch (store/fence-writer.ts)
   * and fail together with one error: logged once per error and kind (set, drop), with the
   * partition it came first for; a failed drop is written again by the writer.
   */
  private fenceFailed(err: Error, keyspace: string, partition: number, kind: 'set' | 'drop' = 'set'): void {
    if (this.lastFenceError[kind] === err) return;
    this.lastFenceError[kind] = err;
    this.deps.log.warn({ keyspace, partition, err: err.message }, kind === 'set'
      ? 'cannot set fence (nor, with the same error, the other fences of its batch)'
      : 'cannot drop fence yet (it is written again; it ends by itself at the old lease end)');
  }

  private readonly lastFenceError: { set?: Error; drop?: Error } = {};

  private ownerChanged(keyspace: string, partition: number, owner: string, epoch: number): void {
    const key = `${keyspace}/${partition}`;
    const previous = this.owners.get(key)?.owner ?? null;
    this.owners.set(key, { owner, epoch });
    if (!this.booting) this.leaseLoss.ownerChanged(key, owner === this.deps.config.region, this.deps.clock.monoMs());
    if (!this.booting) this.learnt.add(key);
    // handed over by us: tell the new owner now rather than at its next witness heartbeat
    if (previous === this.deps.config.region && owner !== previous) this.deps.replicator.sendControl(owner, OWNER_TOPIC, { keyspace, partition, owner, epoch });
    if (owner !== this.deps.config.region) {
      this.deps.dropFence(keyspace, partition).catch((err: Error) => this.fenceFailed(err, keyspace, partition, 'drop'));
    }
    this.decisions.push({ at: this.deps.clock.nowMs(), keyspace, partition, owner, epoch, previous });
    if (this.decisions.length > DECISIONS_KEPT_MAX) this.decisions.shift();
    this.deps.log.info({ keyspace, partition, owner, epoch, previous }, 'ownership changed');
    const write = this.deps.writeOwner ? this.deps.writeOwner(key, `${owner}:${epoch}`) : this.deps.redis.hset(this.deps.ownersKey, key, `${owner}:${epoch}`);
    write.catch((err: Error) =>
      this.deps.log.warn({ err: err.message }, 'cannot persist owner; it is learnt again from the witness'));
  }
}
