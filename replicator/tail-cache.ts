/**
 * The newest entries of this region's log, kept in memory as the write path produced them,
 * so a sender that keeps up ships a fresh write without reading it back from Redis. It only
 * ever serves a contiguous run of seqs that starts exactly where the sender stands; anything
 * else (a sender behind the cache, a hole left by an append that did not pass through here,
 * a new log incarnation) is a miss, and the sender reads the log as before. Bounded in
 * entries and bytes; the oldest entries go first.
 */
import { takeWithin, type LogEntry } from './packed.js';

export const DEFAULT_TAIL_ENTRIES_MAX = 4096;
export const DEFAULT_TAIL_BYTES_MAX = 4 * 1024 * 1024;

export class TailCache {
  private entries: LogEntry[] = [];
  /** Index of the first live entry in `entries` (dropped ones are compacted lazily). */
  private head = 0;
  private bytes = 0;

  constructor(private readonly entriesMax = DEFAULT_TAIL_ENTRIES_MAX, private readonly bytesMax = DEFAULT_TAIL_BYTES_MAX) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  /** A fresh log entry. One that does not continue the cached run starts a new run. */
  add(entry: LogEntry): void {
    const last = this.entries[this.entries.length - 1];
    if (this.size > 0 && last!.seq + 1 !== entry.seq) this.clear();
    this.entries.push(entry);
    this.bytes += entry.bytes.byteLength;
    while (this.size > 1 && (this.size > this.entriesMax || this.bytes > this.bytesMax)) {
      this.bytes -= this.entries[this.head]!.bytes.byteLength;
      this.entries[this.head++] = undefined as unknown as LogEntry;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  /**
   * Up to `maxRecords` entries (and `maxBytes`, at least one) after `afterSeq`, when the
   * cache holds `afterSeq + 1`; null otherwise (read the log).
   */
  read(afterSeq: number, maxRecords: number, maxBytes: number): LogEntry[] | null {
    const first = this.entries[this.head];
    if (!first || afterSeq + 1 < first.seq || afterSeq >= this.entries[this.entries.length - 1]!.seq) {
      return null;
    }
    return takeWithin(this.from(this.head + (afterSeq + 1 - first.seq)), maxRecords, maxBytes);
  }

  private *from(index: number): Generator<LogEntry> {
    for (let i = index; i < this.entries.length; i++) yield this.entries[i]!;
  }
}
