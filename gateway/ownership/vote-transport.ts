/**
 * Lease confirmations between regions ride the replication link as control frames on topic
 * `vote`: `{ id, request }` one way, `{ id, reply }` back. Requests wait for their reply with a
 * timeout; the number waiting is bounded (a renewal that cannot be sent is simply skipped —
 * safe: the lease just is not extended).
 */
import type { Logger } from 'pino';
import type { Replicator } from '../../replicator/index.js';
import type { Clock, TimerHandle } from '../../infra/clock.js';
import { confirmReplySchema, confirmRequestSchema, type ConfirmReply, type ConfirmRequest, type VoteTransport } from '../../witness/index.js';

export const VOTE_TOPIC = 'vote';
export const VOTES_WAITING_MAX = 1024;

interface Waiting { resolve(reply: ConfirmReply | null): void; timer: TimerHandle; voter: string }

export class LinkVoteTransport implements VoteTransport {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(
    private readonly replicator: Replicator,
    private readonly clock: Clock,
    private readonly log: Logger,
    answer: (req: ConfirmRequest) => ConfirmReply,
  ) {
    replicator.registerTopic(VOTE_TOPIC, (peer, body) => this.receive(peer, body, answer));
  }

  ask(voter: string, request: ConfirmRequest, timeoutMs: number): Promise<ConfirmReply | null> {
    if (this.waiting.size >= VOTES_WAITING_MAX) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => this.settle(id, null));
      this.waiting.set(id, { resolve, timer, voter });
      if (!this.replicator.sendControl(voter, VOTE_TOPIC, { id, request })) this.settle(id, null);
    });
  }

  close(): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, null);
  }

  private settle(id: number, reply: ConfirmReply | null): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    w.timer.cancel();
    w.resolve(reply);
  }

  private receive(peer: string, body: unknown, answer: (req: ConfirmRequest) => ConfirmReply): void {
    const msg = body as { id?: unknown; request?: unknown; reply?: unknown } | null;
    if (!msg || typeof msg !== 'object' || typeof msg.id !== 'number') {
      this.log.warn({ peer }, 'malformed vote frame dropped');
      return;
    }
    if (msg.request !== undefined) {
      const req = confirmRequestSchema.safeParse(msg.request);
      if (!req.success || req.data.from !== peer) {
        this.log.warn({ peer, problem: req.success ? 'from does not match the link' : req.error.issues[0]?.message }, 'invalid vote request dropped');
        return;
      }
      this.replicator.sendControl(peer, VOTE_TOPIC, { id: msg.id, reply: answer(req.data) });
      return;
    }
    const reply = confirmReplySchema.safeParse(msg.reply);
    const w = this.waiting.get(msg.id);
    if (!reply.success || !w || w.voter !== peer) return;
    this.settle(msg.id, reply.data);
  }
}
