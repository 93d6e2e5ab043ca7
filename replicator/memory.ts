/**
 * In-memory `LogSource` and `ChangeSink` for tests of the shipping logic and for the
 * simulation (the real ones are the gateway's Redis store). Bounded like the store's log.
 */
import type { RecordVersion } from '../conflict/types.js';
import { compareVv } from '../conflict/vv.js';
import type { ApplyOutcome, ChangeRecord, ChangeSink, LogSource } from './types.js';
import { type LogEntry, packEntry, takeWithin, unpackChange } from './packed.js';

export class MemoryLog implements LogSource {
  private entries: LogEntry[] = [];
  private lastSeq = 0;
  /** Calls to `read` (tests assert wake-ups instead of busy polling). */
  reads = 0;

  constructor(private incarnationId = 'inc-1', private readonly entriesMax = 1_000_000) {}

  append(change: Omit<ChangeRecord, 'seq'>): ChangeRecord {
    if (this.entries.length >= this.entriesMax) throw new Error(`log full at ${this.entriesMax} entries`);
    const entry: ChangeRecord = { ...change, seq: ++this.lastSeq };
    this.entries.push(packEntry(entry));
    return entry;
  }

  /** The store started empty: new incarnation, seq restarts. */
  reset(incarnation: string): void {
    this.incarnationId = incarnation;
    this.entries = [];
    this.lastSeq = 0;
  }

  async read(afterSeq: number, maxRecords: number, maxBytes: number): Promise<LogEntry[]> {
    this.reads++;
    return takeWithin(this.entries.filter((e) => e.seq > afterSeq), maxRecords, maxBytes);
  }

  async bounds(): Promise<{ firstSeq: number; lastSeq: number; length: number }> {
    const first = this.entries[0];
    return { firstSeq: first ? first.seq : this.lastSeq + 1, lastSeq: this.lastSeq, length: this.entries.length };
  }

  async trimThrough(seq: number): Promise<void> {
    this.entries = this.entries.filter((e) => e.seq > seq);
  }

  async incarnation(): Promise<string> {
    return this.incarnationId;
  }
}

export class MemorySink implements ChangeSink {
  readonly records = new Map<string, RecordVersion>();
  private readonly applied = new Map<string, number>();
  /** Every record the sink actually applied, in order (tests check no duplicate effect). */
  readonly effects: { origin: string; seq: number; key: string }[] = [];
  /** When set, `apply` waits for it first (tests of the receive queue bound). */
  applyDelay: Promise<void> | null = null;

  async apply(origin: string, incarnation: string, batch: readonly LogEntry[]): Promise<ApplyOutcome[]> {
    if (this.applyDelay) await this.applyDelay;
    const cursorKey = `${origin}|${incarnation}`;
    let last = this.applied.get(cursorKey) ?? 0;
    const outcomes = batch.map((entry): ApplyOutcome => {
      const change = unpackChange(entry.bytes);
      if (change.seq <= last) return 'duplicate';
      last = change.seq;
      const key = `${change.keyspace}/${change.key}`;
      const current = this.records.get(key);
      const order = current ? compareVv(change.record.vv, current.vv) : 'after';
      if (order === 'before' || order === 'equal') return 'dominated';
      this.effects.push({ origin, seq: change.seq, key });
      if (order === 'concurrent') return 'conflict';
      this.records.set(key, change.record);
      return 'applied';
    });
    this.applied.set(cursorKey, last);
    return outcomes;
  }

  async appliedSeq(origin: string, incarnation: string): Promise<number> {
    return this.applied.get(`${origin}|${incarnation}`) ?? 0;
  }
}
