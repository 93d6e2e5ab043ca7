import { DecisionLog, type Decision } from './decisions.js';
import { PromiseTable, type KnownOwner } from './promises.js';
import type {
  ConfirmReply,
  ConfirmRequest,
  ConfirmVerdict,
  GrantReply,
  GrantRequest,
  HeartbeatReply,
  HeartbeatRequest,
  OwnerEntry,
} from './protocol.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { WITNESS_VOTER, getPartition, isMajority, partitionKey, weightOf, type PartitionSpec, type Topology } from './topology.js';

export interface WitnessCoreOptions {
  readonly topology: Topology;
  readonly leaseMs: number;
  readonly bootMonoMs: number;
  /** Confirms and grants nothing this long after boot (default leaseMs). */
  readonly bootQuietMs?: number;
  /** A region not heard from for this long is not viable. */
  readonly regionSilenceMs: number;
  /** Hysteresis: at most one ownership change per partition per interval. */
  readonly minOwnershipChangeIntervalMs: number;
  readonly decisionsMax: number;
}

/** What survives a restart. */
export interface DurableState {
  readonly owners: readonly OwnerEntry[];
  readonly decisions: readonly Decision[];
}

export interface OwnershipChange {
  readonly key: string;
  readonly entry: OwnerEntry;
  readonly decision: Decision;
  /** A released failback: the previous owner gave its lease up; its promise is forgotten at commit. */
  readonly releasedBy?: string;
}

export interface GrantPlan {
  readonly reply: GrantReply;
  /** Present when ownership moves: persist `snapshot(change)` durably, then `commit(change)`. */
  readonly change?: OwnershipChange;
}

interface RegionHealth {
  heardAtMs: number;
  peersUp: readonly string[] | null;
}

/**
 * The witness's ownership state machine (pure: time comes in as monotonic ms). Owners and
 * epochs are durable; promises and region health are memory only. Ownership moves only
 * through `planGrant` → persist → `commit`, always to epoch + 1.
 */
export class WitnessCore {
  private readonly owners = new Map<string, KnownOwner>();
  private readonly lastChangeMs = new Map<string, number>();
  private readonly health = new Map<string, RegionHealth>();
  /**
   * The latest coordinator term heard from each region (memory only, one entry per region of
   * the topology): a released failback of an older term was sent by a coordinator that lost
   * its term since, and a newer one may have renewed the partition and resumed writes.
   */
  private readonly terms = new Map<string, number>();
  private readonly promises: PromiseTable;
  readonly decisions: DecisionLog;

  constructor(private readonly opts: WitnessCoreOptions, durable?: DurableState) {
    this.promises = new PromiseTable(opts.leaseMs, opts.bootMonoMs, opts.bootQuietMs ?? opts.leaseMs);
    this.decisions = new DecisionLog(opts.decisionsMax, durable?.decisions ?? []);
    for (const spec of opts.topology.partitions.values()) this.owners.set(spec.key, { owner: spec.nodes[0] as string, epoch: 0 });
    for (const e of durable?.owners ?? []) {
      const key = partitionKey(e.keyspace, e.partition);
      if (this.owners.has(key)) this.owners.set(key, { owner: e.owner, epoch: e.epoch });
    }
  }

  ownerOf(key: string): KnownOwner {
    const o = this.owners.get(key);
    if (!o) throw new Error(`no owner entry for ${key}`);
    return o;
  }

  quietRemainingMs(nowMs: number): number {
    return this.promises.quietRemainingMs(nowMs);
  }

  heartbeat(req: HeartbeatRequest, nowMs: number): HeartbeatReply {
    this.health.set(req.from, { heardAtMs: nowMs, peersUp: req.peersUp.filter((p) => this.isRegion(p)) });
    this.noteTerm(req.from, req.term);
    return { v: PROTOCOL_VERSION, quiet: this.quietRemainingMs(nowMs) > 0, heard: this.heard(nowMs), viable: this.viable(nowMs), owners: this.ownerEntries() };
  }

  confirm(req: ConfirmRequest, nowMs: number): ConfirmReply {
    this.markHeard(req.from, nowMs);
    this.noteTerm(req.from, req.term);
    const items = req.items.map((item): ConfirmVerdict => {
      const key = partitionKey(item.keyspace, item.partition);
      const known = this.owners.get(key);
      if (!known) return { ...item, ok: false, owner: req.from, reason: 'unknown-partition' };
      if (item.epoch === known.epoch && known.owner === req.from && !this.isViable(req.from, nowMs)) {
        return { ...item, ok: false, owner: known.owner, reason: 'not-viable' };
      }
      return this.promises.vote(req.from, item, known, nowMs);
    });
    return { v: PROTOCOL_VERSION, voter: WITNESS_VOTER, round: req.round, items };
  }

  planGrant(req: GrantRequest, nowMs: number, wallMs: number): GrantPlan {
    const key = partitionKey(req.keyspace, req.partition);
    const known = this.owners.get(key);
    if (!known) return { reply: this.answer(req, 'refused', { owner: req.from, epoch: 0 }, 'unknown-partition') };
    this.markHeard(req.from, nowMs);
    const latestTerm = this.terms.get(req.from) ?? 0;
    if (req.released === true && (req.term ?? 0) < latestTerm) {
      // its coordinator lost the term after it stopped the partition; the region's newer
      // coordinator knows nothing of that handover and may be renewing and writing it
      return { reply: this.answer(req, 'refused', known, `stale-term: released by ${req.from}'s coordinator term ${req.term ?? 0}, its latest term is ${latestTerm}`) };
    }
    this.noteTerm(req.from, req.term);
    const quietMs = this.quietRemainingMs(nowMs);
    if (quietMs > 0) return { reply: this.answer(req, 'refused', known, 'quiet', quietMs) };
    if (req.knownEpoch !== known.epoch) return { reply: this.answer(req, 'unchanged', known, 'epoch-moved') };
    const spec = getPartition(this.opts.topology, req.keyspace, req.partition);
    const pick = req.reason === 'failback' ? this.failbackTarget(req, spec, known, nowMs) : this.takeoverTarget(req, spec, known, nowMs);
    if ('refusal' in pick) return { reply: this.answer(req, pick.outcome ?? 'refused', known, pick.refusal, pick.retryAfterMs) };
    const sinceMs = nowMs - (this.lastChangeMs.get(key) ?? Number.NEGATIVE_INFINITY);
    if (sinceMs < this.opts.minOwnershipChangeIntervalMs) {
      return { reply: this.answer(req, 'refused', known, 'hysteresis', this.opts.minOwnershipChangeIntervalMs - sinceMs) };
    }
    const entry: OwnerEntry = { keyspace: req.keyspace, partition: req.partition, owner: pick.to, epoch: known.epoch + 1 };
    const decision: Decision = {
      atMs: wallMs, keyspace: req.keyspace, partition: req.partition, fromOwner: known.owner, toOwner: pick.to,
      epoch: entry.epoch, reason: req.reason, requester: req.from, detail: pick.detail,
    };
    const releasedBy = req.reason === 'failback' && req.released === true ? req.from : undefined;
    const change: OwnershipChange = releasedBy === undefined ? { key, entry, decision } : { key, entry, decision, releasedBy };
    return { reply: this.answer(req, 'granted', entry, pick.detail), change };
  }

  /** The durable state with `change` applied (what must be on disk before answering). */
  snapshot(change?: OwnershipChange | readonly OwnershipChange[]): DurableState {
    const changes = change === undefined ? [] : Array.isArray(change) ? change as readonly OwnershipChange[] : [change as OwnershipChange];
    const moved = new Set(changes.map((c) => c.key));
    if (moved.size !== changes.length) throw new Error('one change per partition in a snapshot');
    const owners = this.ownerEntries().filter((e) => e.epoch > 0 || e.owner !== this.defaultOwner(e));
    const merged = [...owners.filter((e) => !moved.has(partitionKey(e.keyspace, e.partition))), ...changes.map((c) => c.entry)];
    const kept = Math.max(0, this.opts.decisionsMax - changes.length);
    const decisions = [...this.decisions.recent(kept), ...changes.map((c) => c.decision)].slice(-this.opts.decisionsMax);
    return { owners: merged, decisions };
  }

  commit(change: OwnershipChange, nowMs: number): void {
    const cur = this.ownerOf(change.key);
    if (change.entry.epoch !== cur.epoch + 1) throw new Error(`epoch must move by one: ${cur.epoch} -> ${change.entry.epoch}`);
    this.owners.set(change.key, { owner: change.entry.owner, epoch: change.entry.epoch });
    this.lastChangeMs.set(change.key, nowMs);
    this.decisions.push(change.decision);
    // the released owner stopped and drained before asking: the new owner need not wait
    // for the promise that protected the old lease to run out
    if (change.releasedBy !== undefined) this.promises.release(change.key, change.releasedBy);
  }

  ownerEntries(): OwnerEntry[] {
    return [...this.opts.topology.partitions.values()].map((s) => ({ keyspace: s.keyspace, partition: s.partition, ...this.ownerOf(s.key) }));
  }

  promiseEntries(nowMs: number): Array<{ key: string; owner: string; epoch: number; remainingMs: number }> {
    return [...this.promises.entries()]
      .filter(([, p]) => p.untilMs > nowMs)
      .map(([key, p]) => ({ key, owner: p.owner, epoch: p.epoch, remainingMs: p.untilMs - nowMs }));
  }

  heard(nowMs: number): string[] {
    return this.opts.topology.regions.filter((r) => this.isHeard(r, nowMs));
  }

  viable(nowMs: number): string[] {
    return this.opts.topology.regions.filter((r) => this.isViable(r, nowMs));
  }

  private failbackTarget(req: GrantRequest, spec: PartitionSpec, known: KnownOwner, nowMs: number): Pick {
    if (req.from !== known.owner) return { refusal: 'failback-only-by-owner' };
    const target = req.target;
    if (!target || !spec.nodes.includes(target)) return { refusal: 'failback-target-not-in-node-list' };
    if (spec.nodes.indexOf(target) >= spec.nodes.indexOf(known.owner)) return { refusal: 'failback-target-not-preferred' };
    if (!this.isViable(target, nowMs)) return { refusal: 'failback-target-not-viable' };
    if (req.released === true) return { to: target, detail: `failback to ${target}: ${known.owner} stopped, drained the partition to it and released its lease` };
    return { to: target, detail: `failback to ${target}: caught up, preferred in node list` };
  }

  private takeoverTarget(req: GrantRequest, spec: PartitionSpec, known: KnownOwner, nowMs: number): Pick {
    if (known.owner === req.from) return { refusal: 'already-owner', outcome: 'unchanged' };
    if (this.isViable(known.owner, nowMs)) return { refusal: 'owner-alive', retryAfterMs: this.opts.regionSilenceMs };
    // Sync replicas hold every write the owner acknowledged: the partition goes to one of
    // them or waits for one (anyone else would write without those and win over them).
    const syncCopies = spec.sync.filter((r) => r !== known.owner);
    const candidates = syncCopies.length > 0 ? syncCopies : spec.nodes.filter((r) => r !== known.owner);
    const to = candidates.find((r) => this.isViable(r, nowMs));
    if (!to) return { refusal: syncCopies.length > 0 ? 'sync-replica-not-viable' : 'no-viable-candidate', retryAfterMs: this.opts.regionSilenceMs };
    const key = spec.key;
    const blocking = this.promises.blockingFor(key, to, nowMs);
    if (blocking) return { refusal: 'owner-lease-live', retryAfterMs: blocking.untilMs - nowMs };
    const why = this.isHeard(known.owner, nowMs) ? 'cannot reach a majority' : `silent for over ${this.opts.regionSilenceMs} ms`;
    const chosen = syncCopies.length > 0 ? 'the first viable sync replica' : 'the first viable region in the node list';
    return { to, detail: `${known.owner} ${why}; ${to} is ${chosen}` };
  }

  private answer(req: GrantRequest, outcome: GrantReply['outcome'], o: KnownOwner, reason: string, retryAfterMs?: number): GrantReply {
    const reply: GrantReply = { v: PROTOCOL_VERSION, keyspace: req.keyspace, partition: req.partition, outcome, owner: o.owner, epoch: o.epoch, reason };
    return retryAfterMs === undefined ? reply : { ...reply, retryAfterMs: Math.ceil(retryAfterMs) };
  }

  private defaultOwner(e: OwnerEntry): string {
    return getPartition(this.opts.topology, e.keyspace, e.partition).nodes[0] as string;
  }

  private isRegion(r: string): boolean {
    return this.opts.topology.regions.includes(r);
  }

  /** The latest coordinator term of each region heard with one (the witness's status page). */
  termEntries(): Array<{ region: string; term: number }> {
    return [...this.terms].map(([region, term]) => ({ region, term }));
  }

  /** The latest term of `region` (the highest heard since boot; 0 for a region without coordination). */
  termOf(region: string): number {
    return this.terms.get(region) ?? 0;
  }

  private noteTerm(region: string, term: number | undefined): void {
    if (term === undefined || !this.isRegion(region)) return;
    if (term > (this.terms.get(region) ?? 0)) this.terms.set(region, term);
  }

  private markHeard(region: string, nowMs: number): void {
    if (!this.isRegion(region)) return;
    const h = this.health.get(region);
    if (h) h.heardAtMs = nowMs;
    else this.health.set(region, { heardAtMs: nowMs, peersUp: null });
  }

  private isHeard(region: string, nowMs: number): boolean {
    const h = this.health.get(region);
    return !!h && nowMs - h.heardAtMs <= this.opts.regionSilenceMs;
  }

  /** Heard recently and, by its own last report, able to reach a majority with us. */
  private isViable(region: string, nowMs: number): boolean {
    const h = this.health.get(region);
    if (!h || !this.isHeard(region, nowMs)) return false;
    if (h.peersUp === null) return true;
    return isMajority(this.opts.topology, weightOf(this.opts.topology, [region, WITNESS_VOTER, ...h.peersUp]));
  }
}

type Pick = { to: string; detail: string } | { refusal: string; retryAfterMs?: number; outcome?: GrantReply['outcome'] };
