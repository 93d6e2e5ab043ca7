import type { Logger } from '../infra/log.js';
import type { Clock } from '../infra/clock.js';
import { OverloadedError } from './errors.js';
import type { WitnessMetrics } from './metrics.js';
import { PROTOCOL_VERSION, type ConfirmReply, type ConfirmRequest, type GrantBatchReply, type GrantBatchRequest, type GrantReply, type GrantRequest, type HeartbeatReply, type HeartbeatRequest } from './protocol.js';
import type { StateFile } from './state-file.js';
import { partitionKey } from './topology.js';
import type { OwnershipChange, WitnessCore } from './witness-core.js';

/** Grant requests planned together and made durable with one state-file write. */
export const GRANT_BATCH_MAX = 4096;

interface QueuedGrant {
  readonly req: GrantRequest;
  resolve(reply: GrantReply): void;
  reject(err: Error): void;
}

/**
 * The witness core with I/O around it: grants are serialised (one answer for concurrent
 * askers), persisted before they are answered, and bounded by `grantQueueMax`. Grants
 * arriving while a state-file write runs are group-committed: planned one after the other
 * against the core, written with one save (one fsync pair), then answered; a request for a
 * partition already moving in the batch waits for the next batch, so every answer sees the
 * epoch its predecessor made. Confirms and heartbeats never wait for a save.
 */
export class WitnessService {
  private readonly pending: QueuedGrant[] = [];
  private flushing = false;
  private queued = 0;
  batches = 0;

  constructor(
    readonly core: WitnessCore,
    private readonly stateFile: StateFile,
    private readonly clock: Clock,
    private readonly metrics: WitnessMetrics,
    private readonly log: Logger,
    private readonly grantQueueMax: number,
  ) {}

  confirm(req: ConfirmRequest): ConfirmReply {
    const reply = this.core.confirm(req, this.clock.monoMs());
    for (const v of reply.items) {
      this.metrics.confirms.inc({ verdict: v.ok ? 'ok' : 'refused' });
      if (!v.ok) this.metrics.refusals.inc({ reason: v.reason ?? 'unknown' });
    }
    return reply;
  }

  heartbeat(req: HeartbeatRequest): HeartbeatReply {
    const reply = this.core.heartbeat(req, this.clock.monoMs());
    this.metrics.quiet.set(reply.quiet ? 1 : 0);
    return reply;
  }

  grant(req: GrantRequest): Promise<GrantReply> {
    if (this.queued >= this.grantQueueMax) throw new OverloadedError(`grant queue full (${this.grantQueueMax})`, 100);
    this.queued++;
    return new Promise<GrantReply>((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      void this.flush();
    }).finally(() => { this.queued--; });
  }

  /** Several grants in one call: one queue slot, planned and made durable with the batch they fall in. */
  async grantBatch(batch: GrantBatchRequest): Promise<GrantBatchReply> {
    if (this.queued >= this.grantQueueMax) throw new OverloadedError(`grant queue full (${this.grantQueueMax})`, 100);
    this.queued++;
    try {
      const replies = batch.items.map((req) => new Promise<GrantReply>((resolve, reject) => {
        this.pending.push({ req, resolve, reject });
      }));
      void this.flush();
      return { v: PROTOCOL_VERSION, items: await Promise.all(replies) };
    } finally {
      this.queued--;
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0) await this.flushBatch();
    } finally {
      this.flushing = false;
    }
  }

  private async flushBatch(): Promise<void> {
    const batch: Array<{ q: QueuedGrant; reply: GrantReply; change?: OwnershipChange }> = [];
    const moving = new Set<string>();
    const later: QueuedGrant[] = [];
    while (this.pending.length > 0 && batch.length < GRANT_BATCH_MAX) {
      const q = this.pending.shift() as QueuedGrant;
      const key = partitionKey(q.req.keyspace, q.req.partition);
      if (moving.has(key)) { later.push(q); continue; }
      const plan = this.core.planGrant(q.req, this.clock.monoMs(), this.clock.nowMs());
      this.metrics.grants.inc({ outcome: plan.reply.outcome, reason: plan.reply.reason.split(':')[0]?.slice(0, 40) ?? '' });
      if (plan.change) moving.add(key);
      if (plan.reply.reason.startsWith('stale-term')) {
        this.log.warn({ partition: key, region: q.req.from, term: q.req.term ?? 0 }, `released failback refused: ${plan.reply.reason} (geogate_witness_grant_requests_total{reason="stale-term"})`);
      }
      batch.push(plan.change ? { q, reply: plan.reply, change: plan.change } : { q, reply: plan.reply });
    }
    this.pending.unshift(...later);
    const changes = batch.flatMap((b) => (b.change ? [b.change] : []));
    if (changes.length > 0) {
      try {
        await this.stateFile.save(this.core.snapshot(changes));
      } catch (err) {
        for (const b of batch) b.q.reject(err as Error);
        return;
      }
      this.batches++;
      for (const c of changes) this.committed(c);
    }
    for (const b of batch) b.q.resolve(b.reply);
  }

  private committed(change: OwnershipChange): void {
    this.core.commit(change, this.clock.monoMs());
    this.metrics.decisions.inc({ reason: change.decision.reason });
    const d = change.decision;
    this.log.warn({ partition: `${d.keyspace}/${d.partition}`, from: d.fromOwner, to: d.toOwner, epoch: d.epoch, reason: d.reason, requester: d.requester }, `ownership moved: ${d.detail}`);
  }
}
