/**
 * Applies a peer's CHANGES batches in arrival order, then ACKs the last seq applied. Batches
 * that queued up while an apply was running go to the store together, in ONE
 * `ChangeSink.apply` (bounded by `APPLY_RECORDS_MAX` / `APPLY_BYTES_MAX`), answered by one
 * ACK: under load the store call count follows the apply time, not the frame count, and the
 * applied-seq bookkeeping stays in the same atomic call as the effects. Duplicates
 * (seq <= applied) are skipped by the sink, so redelivery after a reconnect has no effect.
 * The queue of batches waiting to be applied is bounded: a peer that overruns it breaks the
 * window contract and the link closes.
 */
import type { Logger } from '../infra/log.js';
import { PROTOCOL_VERSION, type ChangesFrame } from './codec.js';
import type { Transport } from './link.js';
import { recordBytesEstimate } from './sender.js';
import type { LogEntry } from './packed.js';
import type { ApplyOutcome, ChangeSink } from './types.js';

export const DEFAULT_RECEIVE_QUEUE_BATCHES_MAX = 64;
/** Records of queued batches merged into one store call (the store takes at most 4096). */
export const APPLY_RECORDS_MAX = 2048;
/** Estimated bytes of queued batches merged into one store call (one batch alone may exceed it). */
export const APPLY_BYTES_MAX = 4 * 1024 * 1024;

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
        const { records, frames } = takeApplyBatch(this.queue, APPLY_RECORDS_MAX, APPLY_BYTES_MAX);
        const outcomes = await this.sink.apply(this.peer, this.peerIncarnation, records);
        this.queue.splice(0, frames);
        if (this.stopped) return;
        this.onOutcomes(outcomes);
        this.transport.send({ t: 'ack', v: PROTOCOL_VERSION, seq: records[records.length - 1]!.seq });
      }
    } catch (err) {
      this.log.error({ err, peer: this.peer }, 'applying a CHANGES batch failed; the peer resends from our cursor');
      this.transport.close(`apply failed: ${(err as Error).message}`, 'error');
    } finally {
      this.draining = false;
    }
  }
}

/**
 * The records of the first queued batch plus the batches right behind it that continue it
 * (first seq above the previous batch's last), within both bounds; always the whole first
 * batch. A batch that does not continue (a resend) is applied on its own, with its own ACK.
 */
export function takeApplyBatch(
  queue: readonly ChangesFrame[], recordsMax: number, bytesMax: number,
): { records: readonly LogEntry[]; frames: number } {
  const first = queue[0]!.records;
  let count = first.length;
  let bytes = batchBytes(first);
  let frames = 1;
  for (; frames < queue.length; frames++) {
    const next = queue[frames]!.records;
    const nextBytes = batchBytes(next);
    if (next[0]!.seq <= queue[frames - 1]!.records.at(-1)!.seq) break;
    if (count + next.length > recordsMax || bytes + nextBytes > bytesMax) break;
    count += next.length;
    bytes += nextBytes;
  }
  if (frames === 1) return { records: first, frames };
  return { records: queue.slice(0, frames).flatMap((f) => f.records), frames };
}

function batchBytes(records: readonly LogEntry[]): number {
  let bytes = 0;
  for (const record of records) bytes += recordBytesEstimate(record);
  return bytes;
}
