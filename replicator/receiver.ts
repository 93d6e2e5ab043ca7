/**
 * Applies a peer's CHANGES batches in arrival order, one `ChangeSink.apply` per batch, then
 * ACKs the batch's last seq. Duplicates (seq <= applied) are skipped by the sink in the same
 * atomic call, so redelivery after a reconnect has no effect. The queue of batches waiting
 * to be applied is bounded: a peer that overruns it breaks the window contract and the link
 * closes.
 */
import type { Logger } from '../infra/log.js';
import { PROTOCOL_VERSION, type ChangesFrame } from './codec.js';
import type { Transport } from './link.js';
import type { ApplyOutcome, ChangeSink } from './types.js';

export const DEFAULT_RECEIVE_QUEUE_BATCHES_MAX = 64;

export class ChangeReceiver {
  private readonly queue: ChangesFrame[] = [];
  private draining = false;
  private stopped = false;

  constructor(
    private readonly peer: string,
    private readonly peerIncarnation: string,
    private readonly sink: ChangeSink,
    private readonly transport: Transport,
    private readonly log: Logger,
    private readonly queueBatchesMax: number,
    private readonly onOutcomes: (outcomes: readonly ApplyOutcome[]) => void,
  ) {}

  queued(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  push(frame: ChangesFrame): void {
    if (this.stopped) return;
    for (let i = 1; i < frame.records.length; i++) {
      if (frame.records[i]!.seq <= frame.records[i - 1]!.seq) {
        return this.transport.close('CHANGES batch seqs not strictly increasing', 'protocol');
      }
    }
    if (this.queue.length >= this.queueBatchesMax) {
      return this.transport.close(`receive queue over ${this.queueBatchesMax} batches`, 'protocol');
    }
    this.queue.push(frame);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        const frame = this.queue[0]!;
        const outcomes = await this.sink.apply(this.peer, this.peerIncarnation, frame.records);
        this.queue.shift();
        if (this.stopped) return;
        this.onOutcomes(outcomes);
        this.transport.send({ t: 'ack', v: PROTOCOL_VERSION, seq: frame.records[frame.records.length - 1]!.seq });
      }
    } catch (err) {
      this.log.error({ err, peer: this.peer }, 'applying a CHANGES batch failed; the peer resends from our cursor');
      this.transport.close(`apply failed: ${(err as Error).message}`, 'error');
    } finally {
      this.draining = false;
    }
  }
}
