/**
 * Merkle anti-entropy of one region with its peers, over the replicator's `ae` control
 * topic. Runs a partition session on demand (`repairPartition`, `repairAll`,
 * `restorePartition`, `bootstrapFrom`) and by itself: for a peer marked needs-repair (then
 * clears the mark), when a peer comes back up after having been down (the region whose
 * name sorts first initiates, after `healDelayMs`), slowly in the background, and for
 * tombstone collection. At most `sessionsPerPeerMax` sessions per peer run at once; the
 * rest wait in a bounded queue.
 *
 * A thin facade over units with one job each: sessions.ts (sessions, passes, root
 * comparisons; slots.ts the bounded queue per peer), bootstrap.ts (the bootstrap state),
 * heal.ts (needs-repair and heal repairs), background.ts (the sweep), tombstones.ts
 * (collection), responder.ts (serving the peers), timers.ts.
 */
import { childLogger, type Logger } from '../../infra/log.js';
import type { PeerStateChange } from '../detector.js';
import { AE_TOPIC, type AeRequest } from './messages.js';
import { parseAntiEntropyOptions, type AntiEntropyLimits, type AntiEntropyTunables } from './options.js';
import { AeResponder } from './responder.js';
import { AeRpc, type ByteAccount } from './rpc.js';
import type { AeContext } from './session.js';
import { PartitionSessions } from './sessions.js';
import { BootstrapState } from './bootstrap.js';
import { HealRepairs } from './heal.js';
import { BackgroundSweep } from './background.js';
import { AeTimers } from './timers.js';
import { TombstoneCollector, quietReason } from './tombstones.js';
import { peerStatus, type AeLinks, type AePlacement, type AeStore, type PartitionRepairStats, type RepairAllStats, type TombstoneGcStats } from './types.js';
import type { Clock } from '../../infra/clock.js';

export { HEAL_DRAIN_LAG_ENTRIES_MAX, HEAL_DRAIN_WAIT_MS_MAX } from './heal.js';
export { ROOT_COMPARISONS_IN_FLIGHT_MAX } from './sessions.js';
export { NEEDS_REPAIR_RETRY_MS } from './timers.js';

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

export class AntiEntropy {
  readonly limits: AntiEntropyLimits;
  private readonly rpc: AeRpc;
  private readonly responder: AeResponder;
  private readonly tombstones: TombstoneCollector;
  private readonly sessions: PartitionSessions;
  private readonly bootstrap: BootstrapState;
  private readonly heal: HealRepairs;
  private readonly background: BackgroundSweep;
  private readonly timers: AeTimers;
  private readonly unsubscribe: (() => void)[] = [];
  private started = false;

  constructor(private readonly deps: AntiEntropyDeps) {
    this.limits = parseAntiEntropyOptions(deps.options);
    const log = childLogger(deps.log, { component: 'anti-entropy', region: deps.region });
    const started = () => this.started;
    this.rpc = new AeRpc(deps.links, deps.clock, this.limits, log, (peer, req) => this.responder.handle(peer, req));
    const ctx: AeContext = {
      region: deps.region, store: deps.store, rpc: this.rpc, limits: this.limits, clock: deps.clock, log,
      placement: (ks) => deps.maps.get(ks), onConflicts: () => deps.onConflicts?.(),
    };
    this.sessions = new PartitionSessions({
      ctx, links: deps.links, maps: deps.maps, started,
      changed: (peer, sid, ks, p, buckets) => this.responder.changed(peer, sid, ks, p, buckets),
    });
    const quiet = () => quietReason(this.sessions.applying(), deps.links.status());
    this.responder = new AeResponder(ctx, { onNeed: (peer, req) => this.sessions.onNeed(peer, req), quiet: () => quiet() === null });
    this.tombstones = new TombstoneCollector(ctx, deps.links, quiet);
    this.timers = new AeTimers(deps.clock, log, started, (peer) => peerStatus(deps.links, peer)?.state === 'up');
    const retryWhileUp = (peer: string, fn: () => void) => this.timers.retryWhileUp(peer, fn);
    this.bootstrap = new BootstrapState({ links: deps.links, log, started, pull: (peer) => this.bootstrapFrom(peer), retryWhileUp });
    this.heal = new HealRepairs({
      region: deps.region, links: deps.links, limits: this.limits, clock: deps.clock, log, started, retryWhileUp,
      repairAll: (peer, mark) => this.repairAll(peer, mark), later: (ms, fn) => this.timers.later(ms, fn),
    });
    this.background = new BackgroundSweep({
      links: deps.links, maps: deps.maps, log, running: (peer) => this.sessions.slots.runningFor(peer),
      shared: (map, p, peer) => this.sessions.shared(map, p, peer), session: (peer, ks, p) => this.sessions.session(peer, ks, p, 'both'),
    });
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
    this.unsubscribe.push(links.onNeedsRepair((peer) => this.heal.onNeedsRepair(peer)));
    this.unsubscribe.push(links.onPeerState((change) => this.onPeerState(change)));
    for (const s of links.status()) {
      if (s.state === 'up') this.onPeerState({ peer: s.region, from: 'down', to: 'up', reason: 'already up at start', silenceMs: 0 });
    }
    if (this.limits.backgroundIntervalMs > 0) this.timers.every(this.limits.backgroundIntervalMs, () => this.background.step());
    if (this.limits.tombstoneIntervalMs > 0) this.timers.every(this.limits.tombstoneIntervalMs, () => this.collectTombstones().then(() => undefined));
  }

  stop(): void {
    this.started = false;
    for (const u of this.unsubscribe.splice(0)) u();
    this.timers.cancelAll();
    this.rpc.failAll('anti-entropy stopping');
    this.sessions.slots.wakeAll();
  }

  /** Two-way repair of one partition with `peer`. */
  repairPartition(peer: string, keyspace: string, partition: number): Promise<PartitionRepairStats> {
    return this.sessions.session(peer, keyspace, partition, 'both');
  }

  /**
   * Two-way repair of every partition shared with `peer` (one run per peer at a time; callers
   * share it). With `mark` (a needs-repair mark): a run of its own, shared only by callers
   * with the same mark — a run begun earlier may have passed partitions the marked hole touches.
   */
  repairAll(peer: string, mark?: string | null): Promise<RepairAllStats> {
    const key = mark === undefined ? `both|${peer}` : `needs|${peer}|${mark ?? ''}`;
    return this.sessions.once(key, () => this.sessions.allPartitions(peer, 'both'));
  }

  /**
   * Pulls every partition from `peer` (a region whose store started empty). Callers share a
   * running pull, except one begun before the last rebuildFromPeers.
   */
  bootstrapFrom(peer: string): Promise<RepairAllStats> {
    return this.sessions.once(`pull|${peer}|${this.bootstrap.generation()}`, () => this.sessions.allPartitions(peer, 'pull'));
  }

  /**
   * Bootstrap of a store that started empty: `none` (it did not), `pending`, or `done` once
   * every partition was pulled from at least one peer and no peer that is up is still
   * waiting for (or in) its pull. Latched: once done, it stays done.
   */
  bootstrapStatus(): { state: 'none' | 'pending' | 'done'; from: string[]; complete: boolean } {
    return this.bootstrap.status();
  }

  /**
   * A bootstrap of this region's store (it is empty): what start({ bootstrap: true }) does,
   * also callable before or after start() (the store turned out empty once Redis answered).
   */
  beginBootstrap(): void {
    this.bootstrap.begin();
  }

  /**
   * The store lost its data while running (Redis restarted empty): pull every partition from
   * every peer again — now from those that are up, from the others when they come up. The
   * bootstrap state (the write gate's) is not reopened: the gateway keeps writes safe with
   * the counter floor instead.
   */
  rebuildFromPeers(): void {
    this.bootstrap.rebuildFromPeers();
  }

  /** Operator restore: merges one partition from `source` into this region (pull only, same conflict rules). */
  restorePartition(source: string, keyspace: string, partition: number): Promise<PartitionRepairStats> {
    return this.sessions.session(source, keyspace, partition, 'pull');
  }

  /**
   * Whether this region's Merkle root of (keyspace, partition) equals `peer`'s now (one
   * `tree` root request, nothing repaired). It does not wait for a session slot: a handover
   * pauses writes of the partition while it asks, so it must not queue behind repairs;
   * at most ROOT_COMPARISONS_IN_FLIGHT_MAX run at once (over it: false). Never throws:
   * stopped, a peer that is not up, a partition not shared with it, too many comparisons or
   * a failed request all answer false.
   */
  partitionInSync(peer: string, keyspace: string, partition: number): Promise<boolean> {
    return this.sessions.partitionInSync(peer, keyspace, partition);
  }

  /** One bounded batch of tombstone collection (see tombstones.ts for the rule). */
  collectTombstones(): Promise<TombstoneGcStats> {
    return this.tombstones.collectLogged();
  }

  /** Anti-entropy bytes sent / received per peer since start. */
  bytes(): Record<string, ByteAccount> {
    return Object.fromEntries([...this.rpc.totals].map(([peer, a]) => [peer, { ...a }]));
  }

  /** Sessions running or queued per peer (for status pages). */
  status(): { peer: string; running: number; queued: number }[] {
    const slots = this.sessions.slots;
    return this.deps.links.status().map((s) => ({ peer: s.region, running: slots.runningFor(s.region), queued: slots.queuedFor(s.region) }));
  }

  private onPeerState(change: PeerStateChange): void {
    if (!this.started) return;
    const peer = change.peer;
    if (change.to === 'down') {
      this.heal.peerDown(peer);
      this.bootstrap.peerDown(); // a peer still waiting for its pull no longer holds the bootstrap
      return;
    }
    if (change.to !== 'up') return;
    this.heal.peerUp(peer);
    if (this.bootstrap.peerUp(peer)) return;
    this.heal.healed(peer);
  }
}

export type { AeRequest };
