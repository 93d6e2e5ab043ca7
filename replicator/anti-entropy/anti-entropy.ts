/**
 * Merkle anti-entropy of one region with its peers, over the replicator's `ae` control
 * topic. Runs a partition session on demand (`repairPartition`, `repairAll`,
 * `restorePartition`, `bootstrapFrom`) and by itself: for a peer marked needs-repair (then
 * clears the mark), when a peer comes back up after having been down (the region whose
 * name sorts first initiates, after `healDelayMs`), slowly in the background, and for
 * tombstone collection. At most `sessionsPerPeerMax` sessions per peer run at once; the
 * rest wait in a bounded queue.
 */
import type { Clock, TimerHandle } from '../../infra/clock.js';
import { childLogger, type Logger } from '../../infra/log.js';
import type { PeerStateChange } from '../detector.js';
import type { PeerStatus } from '../types.js';
import { AE_TOPIC, type AeRequest, type RequestOf } from './messages.js';
import { parseAntiEntropyOptions, type AntiEntropyLimits, type AntiEntropyTunables } from './options.js';
import { AeResponder } from './responder.js';
import { AeRpc, type ByteAccount } from './rpc.js';
import { partitionRootsEqual, pullKeys, runPartitionSession, type AeContext } from './session.js';
import { TombstoneCollector } from './tombstones.js';
import {
  AntiEntropyError, addCounts, zeroCounts,
  type AeLinks, type AePlacement, type AeStore, type PartitionRepairStats, type RepairAllStats, type TombstoneGcStats,
} from './types.js';

export interface AntiEntropyDeps {
  readonly region: string;
  readonly store: AeStore;
  readonly links: AeLinks;
  /** Keyspace name → placement (the gateway's PartitionMaps). */
  readonly maps: ReadonlyMap<string, AePlacement>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Versions were left pending: wake the conflict worker. */
  readonly onConflicts?: () => void;
  readonly options?: AntiEntropyTunables;
}

/** Longest a heal repair waits for the replication logs to drain before it runs anyway. */
export const HEAL_DRAIN_WAIT_MS_MAX = 120_000;
/**
 * The heal repair starts once at most this many entries are unacknowledged each way: the
 * split's backlog has shipped, what remains is in flight (under steady traffic over a WAN
 * the lag is never zero; waiting for zero waited out HEAL_DRAIN_WAIT_MS_MAX).
 */
export const HEAL_DRAIN_LAG_ENTRIES_MAX = 256;
/** Root comparisons (partitionInSync) running at once, over all peers. */
export const ROOT_COMPARISONS_IN_FLIGHT_MAX = 64;
const HEAL_DRAIN_POLL_MS_MIN = 100;
/** Pause before another needs-repair pass when one did not complete. */
export const NEEDS_REPAIR_RETRY_MS = 2_000;

export class AntiEntropy {
  readonly limits: AntiEntropyLimits;
  private readonly ctx: AeContext;
  private readonly rpc: AeRpc;
  private readonly responder: AeResponder;
  private readonly tombstones: TombstoneCollector;
  private readonly log: Logger;
  private readonly running = new Map<string, number>();
  private comparing = 0;
  private readonly queues = new Map<string, (() => void)[]>();
  private readonly repairing = new Map<string, Promise<RepairAllStats>>();
  private readonly seenUp = new Set<string>();
  private readonly wentDown = new Set<string>();
  private readonly bootstrapPending = new Set<string>();
  private readonly bootstrappedFrom = new Set<string>();
  private bootstrapRunning = 0;
  /** Bumped by rebuildFromPeers: pulls started before it are not reused. */
  private rebuildGeneration = 0;
  private bootstrap: 'none' | 'pending' | 'done' = 'none';
  private readonly unsubscribe: (() => void)[] = [];
  private readonly timers = new Set<TimerHandle>();
  private applying = 0;
  private sessionSeq = 0;
  private backgroundAt = 0;
  private started = false;

  constructor(private readonly deps: AntiEntropyDeps) {
    this.limits = parseAntiEntropyOptions(deps.options);
    this.log = childLogger(deps.log, { component: 'anti-entropy', region: deps.region });
    this.rpc = new AeRpc(deps.links, deps.clock, this.limits, this.log, (peer, req) => this.responder.handle(peer, req));
    this.ctx = {
      region: deps.region, store: deps.store, rpc: this.rpc, limits: this.limits, clock: deps.clock, log: this.log,
      placement: (ks) => deps.maps.get(ks), onConflicts: () => deps.onConflicts?.(),
    };
    this.responder = new AeResponder(this.ctx, { onNeed: (peer, req) => this.onNeed(peer, req), quiet: () => this.quietReason() === null });
    this.tombstones = new TombstoneCollector(this.ctx, deps.links, () => this.quietReason());
  }

  /**
   * Registers the `ae` topic and the triggers. `bootstrap`: this region's store started
   * empty — pull every partition from each peer the first time it is up.
   */
  start(opts: { bootstrap?: boolean } = {}): void {
    if (this.started) return;
    if (opts.bootstrap) this.beginBootstrap(); // not started yet: every peer waits for its pull
    this.started = true;
    const links = this.deps.links;
    this.unsubscribe.push(links.registerTopic(AE_TOPIC, (peer, body) => this.rpc.handle(peer, body)));
    this.unsubscribe.push(links.onNeedsRepair((peer) => this.onNeedsRepair(peer)));
    this.unsubscribe.push(links.onPeerState((change) => this.onPeerState(change)));
    for (const s of links.status()) {
      if (s.state === 'up') this.onPeerState({ peer: s.region, from: 'down', to: 'up', reason: 'already up at start', silenceMs: 0 });
    }
    if (this.limits.backgroundIntervalMs > 0) this.every(this.limits.backgroundIntervalMs, () => this.backgroundStep());
    if (this.limits.tombstoneIntervalMs > 0) this.every(this.limits.tombstoneIntervalMs, () => this.collectTombstones().then(() => undefined));
  }

  stop(): void {
    this.started = false;
    for (const u of this.unsubscribe.splice(0)) u();
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.rpc.failAll('anti-entropy stopping');
    for (const q of this.queues.values()) for (const w of q.splice(0)) w();
  }

  /** Two-way repair of one partition with `peer`. */
  repairPartition(peer: string, keyspace: string, partition: number): Promise<PartitionRepairStats> {
    return this.session(peer, keyspace, partition, 'both');
  }

  /**
   * Two-way repair of every partition shared with `peer` (one run per peer at a time; callers
   * share it). With `mark` (a needs-repair mark): a run of its own, shared only by callers
   * with the same mark — a run begun earlier may have passed partitions the marked hole touches.
   */
  repairAll(peer: string, mark?: string | null): Promise<RepairAllStats> {
    const key = mark === undefined ? `both|${peer}` : `needs|${peer}|${mark ?? ''}`;
    return this.once(key, () => this.allPartitions(peer, 'both'));
  }

  /**
   * Pulls every partition from `peer` (a region whose store started empty). Callers share a
   * running pull, except one begun before the last rebuildFromPeers.
   */
  bootstrapFrom(peer: string): Promise<RepairAllStats> {
    return this.once(`pull|${peer}|${this.rebuildGeneration}`, () => this.allPartitions(peer, 'pull'));
  }

  /**
   * Bootstrap of a store that started empty: `none` (it did not), `pending`, or `done` once
   * every partition was pulled from at least one peer and no peer that is up is still
   * waiting for (or in) its pull. Latched: once done, it stays done.
   */
  bootstrapStatus(): { state: 'none' | 'pending' | 'done'; from: string[]; complete: boolean } {
    const peers = this.deps.links.status().map((s) => s.region);
    return { state: this.bootstrap, from: [...this.bootstrappedFrom].sort(), complete: peers.every((p) => this.bootstrappedFrom.has(p)) };
  }

  /**
   * A bootstrap of this region's store (it is empty): what start({ bootstrap: true }) does,
   * also callable before or after start() (the store turned out empty once Redis answered).
   */
  beginBootstrap(): void {
    if (this.bootstrap !== 'none') return;
    this.bootstrap = 'pending';
    if (this.started) this.rebuildFromPeers();
    else for (const s of this.deps.links.status()) this.bootstrapPending.add(s.region);
  }

  /**
   * The store lost its data while running (Redis restarted empty): pull every partition from
   * every peer again — now from those that are up, from the others when they come up. The
   * bootstrap state (the write gate's) is not reopened: the gateway keeps writes safe with
   * the counter floor instead.
   */
  rebuildFromPeers(): void {
    if (!this.started) return;
    this.rebuildGeneration++;
    for (const s of this.deps.links.status()) {
      this.bootstrappedFrom.delete(s.region);
      if (s.state === 'up') this.startBootstrap(s.region);
      else this.bootstrapPending.add(s.region);
    }
  }

  private checkBootstrapped(): void {
    if (this.bootstrap !== 'pending' || this.bootstrappedFrom.size === 0 || this.bootstrapRunning > 0) return;
    const up = new Set(this.deps.links.status().filter((s) => s.state === 'up').map((s) => s.region));
    if ([...this.bootstrapPending].some((peer) => up.has(peer))) return;
    this.bootstrap = 'done';
    this.log.info({ from: [...this.bootstrappedFrom].sort(), waitingFor: [...this.bootstrapPending].sort() }, 'bootstrap done: every partition pulled from the peers that are up');
  }

  private startBootstrap(peer: string): void {
    this.bootstrapRunning++;
    // an incomplete pull waits as pending: retried while the peer is up, or at its next `up`
    const retry = () => {
      this.bootstrapPending.add(peer);
      this.retryWhileUp(peer, () => { if (this.bootstrapPending.delete(peer)) this.startBootstrap(peer); });
    };
    void this.bootstrapFrom(peer).then(
      (stats) => {
        if (stats.failed === 0) return void this.bootstrappedFrom.add(peer);
        this.log.warn({ peer, failed: stats.failed, errors: stats.errors, retryMs: NEEDS_REPAIR_RETRY_MS }, 'bootstrap incomplete; retrying');
        retry();
      },
      (err: unknown) => { this.log.warn({ peer, err: (err as Error).message, retryMs: NEEDS_REPAIR_RETRY_MS }, 'bootstrap failed; retrying'); retry(); },
    ).finally(() => {
      this.bootstrapRunning--;
      this.checkBootstrapped();
    });
  }

  /** Operator restore: merges one partition from `source` into this region (pull only, same conflict rules). */
  restorePartition(source: string, keyspace: string, partition: number): Promise<PartitionRepairStats> {
    return this.session(source, keyspace, partition, 'pull');
  }

  /**
   * Whether this region's Merkle root of (keyspace, partition) equals `peer`'s now (one
   * `tree` root request, nothing repaired). It does not wait for a session slot: a handover
   * pauses writes of the partition while it asks, so it must not queue behind repairs;
   * at most ROOT_COMPARISONS_IN_FLIGHT_MAX run at once (over it: false). Never throws:
   * stopped, a peer that is not up, a partition not shared with it, too many comparisons or
   * a failed request all answer false.
   */
  async partitionInSync(peer: string, keyspace: string, partition: number): Promise<boolean> {
    const map = this.deps.maps.get(keyspace);
    if (!this.started || !map || partition < 0 || partition >= map.keyspace.partitions || !this.shared(map, partition, peer)) return false;
    if (this.peerStatus(peer)?.state !== 'up') return false;
    if (this.comparing >= ROOT_COMPARISONS_IN_FLIGHT_MAX) return false;
    this.comparing++;
    try {
      return await partitionRootsEqual(this.ctx, peer, keyspace, partition, `${this.deps.region}-${++this.sessionSeq}`);
    } catch (err) {
      this.log.debug({ peer, keyspace, partition, err: (err as Error).message }, 'partition root comparison failed');
      return false;
    } finally {
      this.comparing--;
    }
  }

  /** One bounded batch of tombstone collection (see tombstones.ts for the rule). */
  collectTombstones(): Promise<TombstoneGcStats> {
    return this.tombstones.collect().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, 'tombstone collection failed');
      return { skipped: `failed: ${(err as Error).message}`, scanned: 0, candidates: 0, collected: 0 };
    });
  }

  /** Anti-entropy bytes sent / received per peer since start. */
  bytes(): Record<string, ByteAccount> {
    return Object.fromEntries([...this.rpc.totals].map(([peer, a]) => [peer, { ...a }]));
  }

  /** Sessions running or queued per peer (for status pages). */
  status(): { peer: string; running: number; queued: number }[] {
    return this.deps.links.status().map((s) => ({ peer: s.region, running: this.running.get(s.region) ?? 0, queued: this.queues.get(s.region)?.length ?? 0 }));
  }

  private once(key: string, run: () => Promise<RepairAllStats>): Promise<RepairAllStats> {
    const current = this.repairing.get(key);
    if (current) return current;
    const p = run().finally(() => this.repairing.delete(key));
    this.repairing.set(key, p);
    return p;
  }

  private async allPartitions(peer: string, mode: 'both' | 'pull'): Promise<RepairAllStats> {
    const jobs: Promise<PartitionRepairStats>[] = [];
    for (const [ks, map] of this.deps.maps) {
      for (let p = 0; p < map.keyspace.partitions; p++) {
        if (!this.shared(map, p, peer)) continue;
        jobs.push(this.session(peer, ks, p, mode));
      }
    }
    const results = await Promise.allSettled(jobs);
    const pulled = zeroCounts();
    const pushed = zeroCounts();
    const errors: string[] = [];
    let converged = 0;
    let bytes = 0;
    for (const r of results) {
      if (r.status === 'rejected') { errors.push((r.reason as Error).message); continue; }
      addCounts(pulled, r.value.pulled);
      addCounts(pushed, r.value.pushed);
      bytes += r.value.bytesSent + r.value.bytesReceived + r.value.peerBytes;
      if (r.value.converged) converged++;
    }
    const stats = { peer, partitions: jobs.length, converged, failed: errors.length, pulled, pushed, bytes, errors: errors.slice(0, 8) };
    this.log.info({ ...stats, mode }, 'anti-entropy pass finished');
    return stats;
  }

  private shared(map: AePlacement, p: number, peer: string): boolean {
    const regions = map.nodeList(p).map((n) => n.region);
    return regions.includes(peer) && regions.includes(this.deps.region);
  }

  private async session(peer: string, ks: string, p: number, mode: 'both' | 'pull'): Promise<PartitionRepairStats> {
    if (!this.started) throw new AntiEntropyError(peer, 'stopped', 'anti-entropy is not running');
    if (!this.deps.links.status().some((s) => s.region === peer)) throw new AntiEntropyError(peer, 'unknown_peer', `${peer} is not a peer`);
    await this.slot(peer);
    this.applying++;
    try {
      const stats = await runPartitionSession(this.ctx, peer, ks, p, mode, `${this.deps.region}-${++this.sessionSeq}`);
      if (stats.rounds > 0) this.log.info({ ...stats }, 'anti-entropy session');
      return stats;
    } finally {
      this.applying--;
      this.release(peer);
    }
  }

  private async slot(peer: string): Promise<void> {
    const n = this.running.get(peer) ?? 0;
    if (n < this.limits.sessionsPerPeerMax) return void this.running.set(peer, n + 1);
    const q = this.queues.get(peer) ?? [];
    if (q.length >= this.limits.queuePerPeerMax) throw new AntiEntropyError(peer, 'busy', `${q.length} sessions queued`);
    this.queues.set(peer, q);
    await new Promise<void>((resolve) => q.push(resolve));
    if (!this.started) throw new AntiEntropyError(peer, 'stopped', 'anti-entropy stopped');
    this.running.set(peer, (this.running.get(peer) ?? 0) + 1);
  }

  private release(peer: string): void {
    this.running.set(peer, Math.max(0, (this.running.get(peer) ?? 1) - 1));
    this.queues.get(peer)?.shift()?.();
  }

  private async onNeed(peer: string, req: RequestOf<'need'>): Promise<Record<string, number>> {
    const acct: ByteAccount = { sent: 0, received: 0 };
    this.applying++;
    try {
      const counts = await pullKeys(this.ctx, peer, req.ks, req.p, req.keys, acct);
      return { ...counts, bytes: acct.sent + acct.received };
    } finally {
      this.applying--;
      const map = this.deps.maps.get(req.ks);
      if (map) this.responder.changed(peer, req.sid, req.ks, req.p, new Set(req.keys.map((k) => map.place(k).bucket)));
    }
  }

  /** Null when nothing can still bring older versions here; else why not. */
  private quietReason(): string | null {
    if (this.applying > 0) return 'anti-entropy sessions applying records';
    for (const s of this.deps.links.status()) {
      if (s.state !== 'up') return `peer ${s.region} is ${s.state}`;
      if (s.needsRepair) return `peer ${s.region} needs repair`;
      if (s.lagEntries > 0) return `peer ${s.region} has not acked ${s.lagEntries} entries`;
      if (!s.remote || s.remote.lagEntries > 0) return `peer ${s.region} has entries for us in flight`;
    }
    return null;
  }

  /**
   * Repairs every partition shared with a peer marked needs-repair, then clears the mark. A
   * pass that does not complete (the peer busy or gone, e.g. while it bootstraps itself) is
   * tried again after NEEDS_REPAIR_RETRY_MS while the peer is up, else when it is up again
   * (onPeerState): the mark never stays set with nobody working on it.
   */
  private onNeedsRepair(peer: string): void {
    if (!this.started) return;
    const retry = () => this.retryWhileUp(peer, () => { if (this.peerStatus(peer)?.needsRepair) this.onNeedsRepair(peer); });
    // a pass that began before the current mark may have passed partitions the new hole
    // touches: the mark is cleared only by a pass begun under it
    const mark = this.deps.links.repairMark?.(peer) ?? null;
    void this.repairAll(peer, mark).then((stats) => {
      if (stats.failed === 0) return this.deps.links.clearNeedsRepair(peer, mark);
      this.log.warn({ peer, failed: stats.failed, errors: stats.errors, retryMs: NEEDS_REPAIR_RETRY_MS }, 'needs-repair pass incomplete; flag kept, retrying');
      retry();
    }, (err: unknown) => {
      this.log.warn({ peer, err: (err as Error).message, retryMs: NEEDS_REPAIR_RETRY_MS }, 'needs-repair pass failed; retrying');
      retry();
    });
  }

  private onPeerState(change: PeerStateChange): void {
    if (!this.started) return;
    const peer = change.peer;
    if (change.to === 'down') {
      if (this.seenUp.has(peer)) this.wentDown.add(peer);
      this.checkBootstrapped(); // a peer still waiting for its pull no longer holds the bootstrap
      return;
    }
    if (change.to !== 'up') return;
    this.seenUp.add(peer);
    if (this.peerStatus(peer)?.needsRepair) this.onNeedsRepair(peer);
    if (this.bootstrapPending.delete(peer)) {
      this.startBootstrap(peer);
      return;
    }
    if (!this.wentDown.delete(peer) || !this.limits.repairOnHeal || this.deps.region > peer) return;
    this.later(this.limits.healDelayMs, () => this.repairAfterDrain(peer, this.deps.clock.monoMs()));
  }

  /**
   * The heal repair waits until the replication logs between us and `peer` drained in both
   * directions, down to what is in flight (HEAL_DRAIN_LAG_ENTRIES_MAX): while a backlog is
   * still shipping, the digests differ by exactly what the log is about to deliver, and
   * repairing it would do the log's work twice. After
   * HEAL_DRAIN_WAIT_MS_MAX it repairs anyway; a peer that is no longer up cancels it (its
   * next return to `up` schedules a new one).
   */
  private repairAfterDrain(peer: string, since: number): void {
    const s = this.peerStatus(peer);
    if (!s || s.state !== 'up') return;
    const waited = this.deps.clock.monoMs() - since;
    const drained = s.lagEntries <= HEAL_DRAIN_LAG_ENTRIES_MAX && s.remote !== null && s.remote.lagEntries <= HEAL_DRAIN_LAG_ENTRIES_MAX;
    if (!drained && waited < HEAL_DRAIN_WAIT_MS_MAX) {
      this.later(Math.max(HEAL_DRAIN_POLL_MS_MIN, this.limits.healDelayMs), () => this.repairAfterDrain(peer, since));
      return;
    }
    if (!drained) this.log.warn({ peer, waitedMs: waited, lagEntries: s.lagEntries }, 'replication logs still not drained after heal; repairing anyway');
    void this.repairAll(peer).catch((err: unknown) => this.log.warn({ peer, err: (err as Error).message }, 'repair after heal failed'));
  }

  private backgroundStep(): void {
    const up = this.deps.links.status().filter((s) => s.state === 'up').map((s) => s.region);
    const all: [string, number][] = [];
    for (const [ks, map] of this.deps.maps) for (let p = 0; p < map.keyspace.partitions; p++) all.push([ks, p]);
    if (up.length === 0 || all.length === 0) return;
    const i = this.backgroundAt++;
    const [ks, p] = all[i % all.length]!;
    const peer = up[Math.floor(i / all.length) % up.length]!;
    if ((this.running.get(peer) ?? 0) > 0 || !this.shared(this.deps.maps.get(ks)!, p, peer)) return;
    void this.session(peer, ks, p, 'both').catch((err: unknown) => this.log.debug({ peer, err: (err as Error).message }, 'background anti-entropy failed'));
  }

  private peerStatus(peer: string): PeerStatus | undefined {
    return this.deps.links.status().find((s) => s.region === peer);
  }

  /**
   * Runs `fn` after NEEDS_REPAIR_RETRY_MS when `peer` is up then; a peer that is not has its
   * work picked up by onPeerState when it is up again, so no timer runs while it is away.
   */
  private retryWhileUp(peer: string, fn: () => void): void {
    this.later(NEEDS_REPAIR_RETRY_MS, () => { if (this.peerStatus(peer)?.state === 'up') fn(); });
  }

  private later(ms: number, fn: () => void): void {
    const t = this.deps.clock.setTimer(ms, () => { this.timers.delete(t); if (this.started) fn(); });
    this.timers.add(t);
  }

  private every(ms: number, fn: () => void | Promise<void>): void {
    this.later(ms, () => {
      void Promise.resolve().then(fn).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'periodic anti-entropy failed'));
      this.every(ms, fn);
    });
  }
}

export type { AeRequest };
