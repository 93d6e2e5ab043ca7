import type { Logger } from '../infra/log.js';
import type { Clock } from '../infra/clock.js';
import { OverloadedError } from './errors.js';
import type { WitnessMetrics } from './metrics.js';
import type { ConfirmReply, ConfirmRequest, GrantReply, GrantRequest, HeartbeatReply, HeartbeatRequest } from './protocol.js';
import type { StateFile } from './state-file.js';
import type { WitnessCore } from './witness-core.js';

/**
 * The witness core with I/O around it: grants are serialised (one answer for concurrent
 * askers), persisted before they are answered, and bounded by `grantQueueMax`.
 */
export class WitnessService {
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;

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
    const run = this.chain.then(() => this.grantNow(req));
    this.chain = run.catch(() => undefined).finally(() => { this.queued--; });
    return run;
  }

  private async grantNow(req: GrantRequest): Promise<GrantReply> {
    const plan = this.core.planGrant(req, this.clock.monoMs(), this.clock.nowMs());
    this.metrics.grants.inc({ outcome: plan.reply.outcome, reason: plan.reply.reason.split(':')[0]?.slice(0, 40) ?? '' });
    if (!plan.change) return plan.reply;
    await this.stateFile.save(this.core.snapshot(plan.change));
    this.core.commit(plan.change, this.clock.monoMs());
    this.metrics.decisions.inc({ reason: plan.change.decision.reason });
    const d = plan.change.decision;
    this.log.warn({ partition: `${d.keyspace}/${d.partition}`, from: d.fromOwner, to: d.toOwner, epoch: d.epoch, reason: d.reason, requester: d.requester }, `ownership moved: ${d.detail}`);
    return plan.reply;
  }
}
