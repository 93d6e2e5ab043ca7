/**
 * Ships this region's own log to one peer over one established link. Starts after the
 * peer's cursor (learned in HELLO), sends CHANGES batches bounded in records and bytes,
 * keeps at most `windowBatchesMax` batches un-acked, wakes on `notifyAppended()` (and on a
 * slow poll as a safety net). Entries missing between the cursor and the log (trimmed)
 * are reported as a gap, never skipped silently; shipping then goes on from what exists.
 */
import type { Clock, TimerHandle } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import { PROTOCOL_VERSION } from './codec.js';
import type { Transport } from './link.js';
import type { LogEntry } from './packed.js';
import type { LogSource } from './types.js';

export const DEFAULT_BATCH_RECORDS_MAX = 512;
export const DEFAULT_BATCH_BYTES_MAX = 1024 * 1024;
export const DEFAULT_WINDOW_BATCHES_MAX = 8;
export const DEFAULT_POLL_MS = 1_000;

export interface SenderOptions {
  readonly batchRecordsMax: number;
  readonly batchBytesMax: number;
  readonly windowBatchesMax: number;
  readonly pollMs: number;
}

export interface LogGap {
  /** Last seq the peer has. */
  readonly afterSeq: number;
  /** First seq still in the log (entries in between are gone). */
  readonly firstSeq: number;
}

export interface SenderHooks {
  readonly onAcked: (seq: number) => void;
  readonly onGap: (gap: LogGap) => void;
  /** Our log's incarnation changed under the link: the cursor no longer applies. */
  readonly onIncarnationChanged: () => void;
  /**
   * The peer acknowledged more of this incarnation than our log holds: our store came back
   * with older data (a rollback). Nothing is shipped until a seq above the cursor exists.
   */
  readonly onCursorAhead?: (cursor: number, lastSeq: number) => void;
}

interface InflightBatch {
  readonly lastSeq: number;
  readonly bytes: number;
}

export class LogSender {
  private acked: number;
  private sent: number;
  private readonly window: InflightBatch[] = [];
  private pumping = false;
  private again = false;
  private stopped = false;
  private poll: TimerHandle | null = null;
  private gapReportedAfter: number | null = null;
  /** Highest seq the log is known to hold (from notifyAppended), 0 when unknown. */
  private knownHead = 0;
  /** The next pump reads the log even when `knownHead` says there is nothing new (slow poll). */
  private probe = true;

  constructor(
    private readonly source: LogSource,
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: SenderOptions,
    private readonly hooks: SenderHooks,
    cursor: number,
    private readonly incarnation: string,
  ) {
    this.acked = cursor;
    this.sent = cursor;
  }

  /** Checks the cursor against the log bounds, then ships. */
  async start(): Promise<void> {
    // the handshake's cursor: a notifyAppended may ship (and move `sent`) while bounds are read
    const cursor = this.sent;
    try {
      const bounds = await this.source.bounds();
      const missing = bounds.length > 0 ? bounds.firstSeq > cursor + 1 : bounds.lastSeq > cursor;
      if (missing) this.reportGap({ afterSeq: cursor, firstSeq: bounds.length > 0 ? bounds.firstSeq : bounds.lastSeq + 1 });
      if (bounds.lastSeq < cursor) {
        this.log.error({ cursor, lastSeq: bounds.lastSeq }, 'peer cursor is ahead of our log: our store came back with older data');
        this.hooks.onCursorAhead?.(cursor, bounds.lastSeq);
      }
    } catch (err) {
      return this.fail('reading log bounds failed', err);
    }
    this.armPoll();
    void this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.poll?.cancel();
    this.poll = null;
  }

  notifyAppended(headSeq?: number): void {
    if (headSeq !== undefined && headSeq > this.knownHead) this.knownHead = headSeq;
    void this.pump();
  }

  /**
   * Whether a read can find something: records after `sent` are known (or the head is
   * unknown, or the slow poll asks to look). Shipping needs no other condition than room in
   * the window: a batch goes out as soon as records wait, and records appended while a log
   * read or a full window holds the pump go out together in the next batch, so batches grow
   * with the load without any record waiting for an ack it does not need.
   */
  private hasWork(): boolean {
    return this.probe || this.knownHead === 0 || this.knownHead > this.sent;
  }

  inflight(): number {
    return this.window.length;
  }

  ackedSeq(): number {
    return this.acked;
  }

  /** Cumulative ACK from the peer; false when it acks what was never sent (protocol error). */
  onAck(seq: number): boolean {
    if (seq > this.sent) return false;
    if (seq <= this.acked) return true;
    this.acked = seq;
    while (this.window.length > 0 && this.window[0]!.lastSeq <= seq) this.window.shift();
    this.hooks.onAcked(seq);
    void this.pump();
    return true;
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (!this.stopped && this.window.length < this.options.windowBatchesMax && this.hasWork() && (await this.shipOne()));
      } while (this.again && !this.stopped);
    } catch (err) {
      this.fail('shipping failed', err);
    } finally {
      this.pumping = false;
    }
  }

  /** Reads and sends one batch; false when the log has nothing after `sent`. */
  private async shipOne(): Promise<boolean> {
    this.probe = false;
    const read = await this.source.read(this.sent, this.options.batchRecordsMax, this.options.batchBytesMax);
    if (this.stopped || read.length === 0) return false;
    const records = boundBatch(read, this.options.batchRecordsMax, this.options.batchBytesMax);
    const first = records[0]!;
    if (first.seq <= this.sent) throw new Error(`log returned seq ${first.seq} at or before ${this.sent}`);
    if (first.seq > this.sent + 1) this.reportGap({ afterSeq: this.sent, firstSeq: first.seq });
    const bytes = this.transport.send({ t: 'changes', v: PROTOCOL_VERSION, records });
    if (bytes === 0) return false;
    this.sent = records[records.length - 1]!.seq;
    this.window.push({ lastSeq: this.sent, bytes });
    return true;
  }

  /** One report per hole: the bounds check at start and the first read may both see it. */
  private reportGap(gap: LogGap): void {
    if (this.gapReportedAfter === gap.afterSeq) return;
    this.gapReportedAfter = gap.afterSeq;
    this.hooks.onGap(gap);
  }

  private armPoll(): void {
    this.poll = this.clock.setTimer(this.options.pollMs, () => {
      if (this.stopped) return;
      void this.checkIncarnation();
      this.probe = true;
      void this.pump();
      this.armPoll();
    });
  }

  private async checkIncarnation(): Promise<void> {
    try {
      if ((await this.source.incarnation()) !== this.incarnation && !this.stopped) this.hooks.onIncarnationChanged();
    } catch (err) {
      this.log.warn({ err }, 'reading log incarnation failed');
    }
  }

  private fail(what: string, err: unknown): void {
    if (this.stopped) return;
    this.log.error({ err }, what);
    this.transport.close(`${what}: ${(err as Error).message}`, 'error');
  }
}

/** Encoded size of one log entry in a CHANGES frame (the packed bytes and their msgpack header). */
export function recordBytesEstimate(entry: LogEntry): number {
  return entry.bytes.byteLength + 5;
}

/** Prefix of `records` within both bounds; always at least one record. */
export function boundBatch(records: readonly LogEntry[], recordsMax: number, bytesMax: number): readonly LogEntry[] {
  let bytes = 0;
  let count = 0;
  for (const record of records) {
    bytes += recordBytesEstimate(record);
    if (count >= recordsMax || (count > 0 && bytes > bytesMax)) break;
    count++;
  }
  return count === records.length ? records : records.slice(0, count);
}
