/**
 * The store's fence in the simulation: each region's Redis as a `SimStore` with its own clock
 * (the host's rate, its own offset) that runs commands one at a time, in order, and can be
 * frozen (SIGSTOP / docker pause: commands and replies wait until it resumes) or made to run
 * a command again later (a replay after a reconnect). `FenceGateway` is the gateway's part:
 * it maps lease ends onto the store's clock with the real `RedisClock` (TIME round trips),
 * sets the fence on every renewal, deletes it when ownership moves away (in batches, one in
 * flight, the latest state per partition: gateway/store/fence-writer.ts), and sends fenced
 * writes carrying the writer's own lease end; a write is acknowledged only when the store
 * accepted it and the lease it was checked under still holds after the reply
 * (gateway/http/kv-routes.ts).
 *
 * The store accepts a fenced write under the rule of gateway/store/lua/includes/fence.lua
 * (`fenceHolds`): the fence carries the writer's epoch and the store's clock is before
 * min(fence end, writer's end). `legacy` models the code before 88abdf4: the fence SET is a
 * relative PX counted from when the store runs it, the write carries no end of its own, and
 * the gateway acknowledges whatever the store accepted.
 *
 * Every accepted write is appended to the store's log (`SimLog`), which the region's
 * replicator (replication.ts) ships to its peers; the writes running on a partition are
 * counted by the real handover's `InflightWrites` (gateway/ownership/handover.ts), which a
 * failback's drain waits on.
 */
import { HANDOVER_DRAIN_MS_MAX, type InflightWrites } from '../../gateway/ownership/handover.js';
import { RedisClock } from '../../gateway/store/redis-clock.js';
import { FENCE_RETRY_MS } from '../../gateway/store/fence-writer.js';
import type { OwnershipAgent } from '../../witness/agent.js';
import type { EventQueue } from './heap.js';

export type FenceMode = 'absolute' | 'legacy';

export interface FenceModelOptions {
  readonly mode: FenceMode;
  /** Gateway ↔ its own Redis, one way (ms). */
  readonly storeDelayMinMs: number;
  readonly storeDelayMaxMs: number;
  /** Probability that a command is run a second time later (a replay after a reconnect). */
  readonly replayRate: number;
  readonly replayDelayMaxMs: number;
  /** Client writes per region: one every this many ms on a random partition (without `clientLoadEveryMs`). */
  readonly writeEveryMs: number;
  /**
   * Constant client load instead: every region's clients write every partition once every
   * this many ms (jittered 0.5–1.5×) for the whole run, through a live region while their
   * own is down, following a redirect to the owner (SimCluster.startLoad).
   */
  readonly clientLoadEveryMs?: number;
  /** TIME is sampled again at most this often (REDIS_CLOCK_RESAMPLE_MS). */
  readonly resampleMs: number;
  /** A write not answered by the store within this is answered write_outcome_unknown (the gateway's Redis command timeout). */
  readonly commandTimeoutMs: number;
  /** A handover's drain gives up after this (HANDOVER_DRAIN_MS_MAX). */
  readonly drainMsMax: number;
  /**
   * The gateway writes its fences in batches (gateway/store/fence-writer.ts): the latest state
   * per partition queued, one batch in flight (until its reply or the command timeout), the
   * next one sent then. Off: one command per fence as sent (the code before the batches).
   */
  readonly fenceBatches: boolean;
  /**
   * With `fenceBatches`: the probability that the store fails a batch as a whole (an error
   * reply, nothing written). The gateway then writes its removals again after FENCE_RETRY_MS
   * unless a newer state replaced them, and its sets at the next renewal (fence-writer.ts).
   */
  readonly fenceBatchFailRate: number;
}

export const FENCE_DEFAULTS: FenceModelOptions = {
  mode: 'absolute', storeDelayMinMs: 0.1, storeDelayMaxMs: 2, replayRate: 0.02, replayDelayMaxMs: 400, writeEveryMs: 20, resampleMs: 1000, commandTimeoutMs: 2000,
  drainMsMax: HANDOVER_DRAIN_MS_MAX, fenceBatches: true, fenceBatchFailRate: 0,
};

/** What the cluster sees of fenced writes, to judge them at every step. */
export interface FenceObserver {
  /**
   * The store of `region` accepted a fenced write of `partition` under `epoch` (real time
   * now); `leaseEndMonoMs` is the lease end the gateway checked it under (its monotonic clock;
   * model-only knowledge, for the judge).
   */
  accepted(region: string, partition: number, epoch: number, leaseEndMonoMs: number): void;
  /** The gateway of `region` acknowledged it to its client. */
  acked(region: string, partition: number, epoch: number): void;
}

type Command =
  | { kind: 'time' }
  | { kind: 'ping' }
  | { kind: 'fence-set'; partition: number; epoch: number; endMs: number } // absolute end (store clock) or, legacy, a ttl
  | { kind: 'fence-del'; partition: number }
  | { kind: 'fence-batch'; items: readonly FenceItem[] } // lua/setFences-1.lua: one MSET, one DEL
  | { kind: 'write'; partition: number; epoch: number; writerEndMs: number | undefined; leaseEndMonoMs: number }
  /** A batch of `from`'s log entries (fromSeq..toSeq) applied here; answers the applied cursor. */
  | { kind: 'apply'; from: string; fromSeq: number; toSeq: number };

/**
 * A region's log, as far as replication and a handover's checks go: one entry per accepted
 * write (seq 1, 2, … across partitions) and, per peer, the cursor through which this store
 * applied that peer's log (entries arrive in order). In Redis: it outlives gateway crashes.
 */
export class SimLog {
  headSeq = 0;
  private readonly seqsOf = new Map<number, number[]>();
  readonly appliedFrom = new Map<string, number>();

  append(partition: number): void {
    this.headSeq++;
    const seqs = this.seqsOf.get(partition);
    if (seqs) seqs.push(this.headSeq);
    else this.seqsOf.set(partition, [this.headSeq]);
  }

  /** Entries of `partition` with seq ≤ `seq`. */
  countThrough(partition: number, seq: number): number {
    const seqs = this.seqsOf.get(partition) ?? [];
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((seqs[mid] as number) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** One fence of a batch: set to (epoch, absolute end on the store's clock), or removed. */
export type FenceItem = { readonly partition: number; readonly set: { readonly epoch: number; readonly endMs: number } | undefined };

interface Queued {
  readonly cmd: Command;
  readonly reply: ((result: number | boolean) => void) | null;
}

/** One region's Redis. Outlives its gateway's crashes. */
export class SimStore {
  private readonly fences = new Map<number, { epoch: number; endMs: number }>();
  private readonly queue: Queued[] = [];
  private busy = false;
  readonly log = new SimLog();
  private applyArrivalMs = 0;
  frozenUntilMs = 0;
  executed = 0;
  /** Fence batches this store failed (fenceBatchFailRate). */
  fenceBatchesFailed = 0;

  constructor(
    readonly region: string,
    private readonly q: EventQueue,
    private readonly random: () => number,
    private readonly realMs: () => number,
    /** This store's clock (ms) at real time t. */
    private readonly clockAt: (realMs: number) => number,
    private readonly o: FenceModelOptions,
    private readonly observer: FenceObserver,
  ) {}

  nowMs(): number {
    return this.clockAt(this.realMs());
  }

  freeze(forMs: number): void {
    this.frozenUntilMs = Math.max(this.frozenUntilMs, this.realMs() + forMs);
  }

  private delay(): number {
    return this.o.storeDelayMinMs + this.random() * (this.o.storeDelayMaxMs - this.o.storeDelayMinMs);
  }

  /**
   * A command sent by the gateway: it arrives after a short delay, runs in order, its reply
   * travels back. The replication applier's batches share one connection: they arrive in
   * the order sent.
   */
  send(cmd: Command, reply: ((result: number | boolean) => void) | null): void {
    let atMs = this.realMs() + this.delay();
    if (cmd.kind === 'apply') {
      atMs = Math.max(atMs, this.applyArrivalMs);
      this.applyArrivalMs = atMs;
    }
    this.q.push(atMs, () => this.enqueue({ cmd, reply }));
    if (cmd.kind !== 'time' && cmd.kind !== 'ping' && this.random() < this.o.replayRate) {
      // the same bytes again, later (a client that re-sent after a reconnect); nobody waits for the reply
      this.q.push(this.realMs() + this.delay() + this.random() * this.o.replayDelayMaxMs, () => this.enqueue({ cmd, reply: null }));
    }
  }

  private enqueue(item: Queued): void {
    this.queue.push(item);
    this.pump();
  }

  /** Commands take no time to run: the head runs now unless the store is frozen. */
  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    if (this.realMs() >= this.frozenUntilMs) this.runHead();
    else this.q.push(this.frozenUntilMs, () => this.runHead());
  }

  private runHead(): void {
    if (this.realMs() < this.frozenUntilMs) {
      this.q.push(this.frozenUntilMs, () => this.runHead()); // frozen after the run was scheduled
      return;
    }
    const item = this.queue.shift()!;
    const result = this.execute(item.cmd);
    this.executed++;
    this.busy = false;
    this.pump();
    if (item.reply) this.writeReply(item.reply, result);
  }

  /** The reply leaves only while the store runs (a store frozen right after the command holds it), then travels. */
  private writeReply(reply: (result: number | boolean) => void, result: number | boolean): void {
    if (this.realMs() < this.frozenUntilMs) {
      this.q.push(this.frozenUntilMs, () => this.writeReply(reply, result));
      return;
    }
    this.q.push(this.realMs() + this.delay(), () => reply(result));
  }

  private execute(cmd: Command): number | boolean {
    const now = this.nowMs();
    switch (cmd.kind) {
      case 'time':
        return Math.floor(now);
      case 'ping':
        return true;
      case 'fence-set': {
        const endMs = this.o.mode === 'legacy' ? now + cmd.endMs : cmd.endMs; // legacy: SET PX counts from now
        if (endMs <= now) this.fences.delete(cmd.partition); // SET PXAT in the past: the key is gone at once
        else this.fences.set(cmd.partition, { epoch: cmd.epoch, endMs });
        return true;
      }
      case 'fence-del':
        this.fences.delete(cmd.partition);
        return true;
      case 'fence-batch':
        // (random() only drawn with a failure rate: the seeds of the other runs are unchanged)
        if (this.o.fenceBatchFailRate > 0 && this.random() < this.o.fenceBatchFailRate) {
          this.fenceBatchesFailed++;
          return false;
        }
        // no expiry: an ended fence stays, and holds nothing (fenceHolds compares its end)
        for (const it of cmd.items) {
          if (it.set) this.fences.set(it.partition, { epoch: it.set.epoch, endMs: it.set.endMs });
          else this.fences.delete(it.partition);
        }
        return true;
      case 'write': {
        if (!this.fenceHolds(cmd.partition, cmd.epoch, cmd.writerEndMs, now)) return false;
        this.observer.accepted(this.region, cmd.partition, cmd.epoch, cmd.leaseEndMonoMs);
        this.log.append(cmd.partition);
        return true;
      }
      case 'apply': {
        const cursor = this.log.appliedFrom.get(cmd.from) ?? 0;
        if (cmd.fromSeq <= cursor + 1 && cmd.toSeq > cursor) this.log.appliedFrom.set(cmd.from, cmd.toSeq);
        return this.log.appliedFrom.get(cmd.from) ?? 0;
      }
    }
  }

  /** includes/fence.lua: the fence carries `epoch` and the store's clock is before min(fence end, writer end). */
  private fenceHolds(partition: number, epoch: number, writerEndMs: number | undefined, nowMs: number): boolean {
    const f = this.fences.get(partition);
    if (!f || f.epoch !== epoch) return false;
    let endMs = f.endMs;
    if (writerEndMs !== undefined && writerEndMs < endMs) endMs = writerEndMs;
    return nowMs < endMs;
  }
}

/** The gateway's side of the fence for one region incarnation (a crash drops it; the store stays). */
export class FenceGateway {
  private readonly clock = new RedisClock();
  private lastSampleMs = Number.NEGATIVE_INFINITY;
  private sampling = false;
  private readonly fenceSentEndMs = new Map<number, number>();
  private readonly fenceHeld = new Set<number>();
  /** With `fenceBatches`: the latest fence state per partition not yet sent, and the batch in flight (sent at, monotonic). */
  private readonly fenceQueue = new Map<number, FenceItem>();
  private fenceBatchSentMs: number | undefined;
  /** Removals queued again after a failed batch, and when they may go (FENCE_RETRY_MS after). */
  private readonly fenceRetrying = new Set<number>();
  private fenceRetryAtMs = 0;
  /** Writes sent to the store, oldest first, until answered or timed out (swept on every tick). */
  private pending: Array<{ readonly sentMonoMs: number; answered: boolean; readonly timeout: () => void }> = [];
  private pendingHead = 0;
  writes = 0;
  acks = 0;
  unknown = 0;
  refused = 0;

  constructor(
    readonly region: string,
    private readonly agent: OwnershipAgent,
    private readonly store: SimStore,
    private readonly partitions: number,
    private readonly monoMs: () => number,
    private readonly alive: () => boolean,
    private readonly o: FenceModelOptions,
    private readonly observer: FenceObserver,
    /** The handover's count of running writes (the gateway's writeGuard.begin): a failback drains them. */
    private readonly inflight: InflightWrites,
  ) {}

  /** After every agent tick: time out writes, resample the store's clock, keep the fences up to date. */
  tick(): void {
    const now = this.monoMs();
    this.sweepTimeouts(now);
    if (!this.sampling && now - this.lastSampleMs >= this.o.resampleMs) this.sample(now);
    for (let p = 0; p < this.partitions; p++) {
      const a = this.agent.authority('ks', p, now);
      if (a.kind === 'owner') {
        const endMono = now + a.leaseRemainingMs;
        if (this.fenceSentEndMs.get(p) === endMono) continue;
        const endMs = this.o.mode === 'legacy' ? a.leaseRemainingMs : this.clock.toRedisMs(endMono);
        if (endMs === undefined) continue; // no TIME sample yet
        this.fenceSentEndMs.set(p, endMono);
        this.fenceHeld.add(p);
        this.sendFence({ partition: p, set: { epoch: a.epoch, endMs } });
      } else if (this.fenceHeld.has(p) && this.ownerElsewhere(p)) {
        this.fenceHeld.delete(p);
        this.fenceSentEndMs.delete(p);
        this.sendFence({ partition: p, set: undefined });
      }
    }
    // a batch the store has not answered within the command timeout no longer holds the next one
    if (this.fenceBatchSentMs !== undefined && now - this.fenceBatchSentMs >= this.o.commandTimeoutMs) this.fenceBatchSentMs = undefined;
    this.flushFences();
  }

  private sendFence(item: FenceItem): void {
    if (!this.o.fenceBatches) {
      this.store.send(item.set ? { kind: 'fence-set', partition: item.partition, epoch: item.set.epoch, endMs: item.set.endMs } : { kind: 'fence-del', partition: item.partition }, null);
      return;
    }
    this.fenceQueue.set(item.partition, item); // a later state replaces the queued one
    this.fenceRetrying.delete(item.partition);
  }

  /** One batch in flight at a time: the queue is sent when none is (fence-writer.ts). */
  private flushFences(): void {
    if (this.fenceBatchSentMs !== undefined || this.fenceQueue.size === 0) return;
    // only removals waiting for their retry: not before it is due
    if (this.fenceRetrying.size === this.fenceQueue.size && this.monoMs() < this.fenceRetryAtMs) return;
    const items = [...this.fenceQueue.values()];
    this.fenceQueue.clear();
    this.fenceRetrying.clear();
    const sentMs = this.monoMs();
    this.fenceBatchSentMs = sentMs;
    this.store.send({ kind: 'fence-batch', items }, (written) => {
      if (!this.alive()) return;
      if (written === false) {
        // the removals are written again unless a newer state of their fence was queued
        for (const it of items) {
          if (it.set !== undefined || this.fenceQueue.has(it.partition)) continue;
          this.fenceQueue.set(it.partition, it);
          this.fenceRetrying.add(it.partition);
        }
        this.fenceRetryAtMs = this.monoMs() + FENCE_RETRY_MS;
      }
      if (this.fenceBatchSentMs !== sentMs) return;
      this.fenceBatchSentMs = undefined;
      this.flushFences();
    });
  }

  /** A write the store did not answer within commandTimeoutMs is answered write_outcome_unknown (at the tick after: ≤ 37.5 ms late). */
  private sweepTimeouts(now: number): void {
    while (this.pendingHead < this.pending.length) {
      const w = this.pending[this.pendingHead]!;
      if (!w.answered && now - w.sentMonoMs < this.o.commandTimeoutMs) break;
      this.pendingHead++;
      if (!w.answered) w.timeout();
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private ownerElsewhere(partition: number): boolean {
    let elsewhere = false;
    this.agent.forEachPartition((spec, known) => {
      if (spec.partition === partition && known.owner !== this.region) elsewhere = true;
    });
    return elsewhere;
  }

  private sample(t0: number): void {
    this.sampling = true;
    this.store.send({ kind: 'time' }, (r) => {
      if (!this.alive()) return;
      this.sampling = false;
      const t1 = this.monoMs();
      this.clock.record(t0, r as number, t1);
      this.lastSampleMs = t1;
    });
  }

  /**
   * One client write on `partition`: authority check, the fenced write, the check after the
   * reply. Answers the region to redirect the client to (another owner), else null (sent, or
   * refused here: 503).
   */
  write(partition: number): string | null {
    const now = this.monoMs();
    const a = this.agent.authority('ks', partition, now);
    if (a.kind === 'redirect') return a.region;
    if (a.kind !== 'owner') return null;
    const leaseEndMono = now + a.leaseRemainingMs;
    const writerEndMs = this.o.mode === 'legacy' ? undefined : this.clock.toRedisMs(leaseEndMono);
    if (this.o.mode !== 'legacy' && writerEndMs === undefined) return null; // the real store maps the end before it writes
    this.writes++;
    const end = this.inflight.begin('ks', partition);
    const w = {
      sentMonoMs: now, answered: false,
      timeout: () => {
        answer();
        this.unknown++; // 503 write_outcome_unknown: Redis did not answer in time
      },
    };
    const answer = () => {
      w.answered = true;
      end();
    };
    this.pending.push(w);
    this.store.send({ kind: 'write', partition, epoch: a.epoch, writerEndMs, leaseEndMonoMs: leaseEndMono }, (ok) => {
      if (!this.alive() || w.answered) return;
      answer();
      if (!ok) {
        this.refused++;
        return;
      }
      const after = this.monoMs();
      const held = this.agent.authority('ks', partition, after);
      if (this.o.mode !== 'legacy' && (after >= leaseEndMono || held.kind !== 'owner' || held.epoch !== a.epoch)) {
        this.unknown++; // 503 write_outcome_unknown
        return;
      }
      this.acks++;
      this.observer.acked(this.region, partition, a.epoch);
    });
    return null;
  }
}
