/**
 * The store side of conflicts: versions kept pending by the apply script, the one-call
 * resolution write (CAS + log + journal + action outbox), and reading the journal.
 */
import type { Redis } from 'ioredis';
import type { RecordVersion } from '../../conflict/types.js';
import { vvFromString, vvToString } from '../../conflict/vv.js';
import { hlcFromString } from '../../conflict/hlc.js';
import type { StoreKeys } from './keys.js';
import { callScript } from './scripts.js';
import { storeError } from './errors.js';

export const PENDING_SCAN_COUNT = 256;
export const DEAD_LETTER_MAX = 10_000;

export interface PendingVersion {
  readonly version: string;
  readonly partition: number;
  readonly bucket: number;
  readonly record: RecordVersion;
}

export interface ResolutionWrite {
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  readonly bucket: number;
  /** Version the record had when the resolver read it ('' = absent). */
  readonly expectedVersion: string;
  /** The pending incoming version this resolves. */
  readonly incomingVersion: string;
  readonly resolved: RecordVersion;
  /** Highest HLC of both sides, as "wall.logical". */
  readonly hlcFloor: string;
  /** Journal entry (field → value); empty: nothing to journal. */
  readonly journal: Record<string, string | Buffer>;
  readonly actions: readonly string[];
}

export interface JournalEntry {
  readonly id: string;
  readonly fields: Record<string, string>;
}

export class ConflictStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly opts: { region: string; logMaxEntries: number; logMaxBytes: number; journalMaxEntries: number; nowMs: () => number },
  ) {}

  /** One page of keys with pending conflicts: `[cursor, [{keyspace, key}]]`. */
  async scanPending(cursor: string): Promise<[string, { keyspace: string; key: string }[]]> {
    const [next, members] = await this.redis.sscan(this.keys.pendingIndex, cursor, 'COUNT', PENDING_SCAN_COUNT);
    return [next, members.map((m) => {
      const i = m.indexOf('\0');
      return { keyspace: m.slice(0, i), key: m.slice(i + 1) };
    })];
  }

  async pendingCount(): Promise<number> {
    return this.redis.scard(this.keys.pendingIndex);
  }

  async pendingFor(keyspace: string, key: string): Promise<PendingVersion[]> {
    const raw = await this.redis.hgetallBuffer(this.keys.pending(keyspace, key));
    const out: PendingVersion[] = [];
    for (const [field, meta] of Object.entries(raw)) {
      if (!field.startsWith('m:')) continue;
      const version = field.slice(2);
      const m = JSON.parse(meta.toString()) as { p: string; b: string; ct: string; h: string; o: string; e: string; t: string };
      out.push({
        version, partition: Number(m.p), bucket: Number(m.b),
        record: {
          value: raw[`v:${version}`] ?? Buffer.alloc(0), contentType: m.ct, vv: vvFromString(version) ?? {},
          hlc: hlcFromString(m.h) ?? [0, 0], origin: m.o, epoch: Number(m.e), tombstone: m.t === '1',
        },
      });
    }
    return out;
  }

  /** Forgets a pending version the current record already dominates. */
  async dropPending(keyspace: string, key: string, version: string): Promise<void> {
    const pend = this.keys.pending(keyspace, key);
    await this.redis.hdel(pend, `m:${version}`, `v:${version}`);
    if ((await this.redis.exists(pend)) === 0) await this.redis.srem(this.keys.pendingIndex, `${keyspace}\0${key}`);
  }

  /** Writes a resolution; false when the record or the pending entry changed meanwhile (retry later). */
  async writeResolution(w: ResolutionWrite): Promise<{ written: boolean; seq?: number }> {
    const k = this.keys;
    const r = w.resolved;
    const journal = Object.entries(w.journal).flat();
    const res = await callScript(this.redis, 'resolveConflict-11', [
      k.record(w.keyspace, w.key), k.log, k.seq, k.logBytes, k.hlc, k.digest(w.keyspace, w.partition),
      k.members(w.keyspace, w.partition, w.bucket), k.pending(w.keyspace, w.key), k.pendingIndex, k.journal, k.outbox,
      this.opts.region, this.opts.nowMs(), Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength), r.contentType,
      r.tombstone ? '1' : '0', w.expectedVersion, w.incomingVersion, vvToString(r.vv), w.hlcFloor, r.epoch,
      this.opts.logMaxEntries, this.opts.logMaxBytes, w.keyspace, w.key, w.partition, w.bucket, this.opts.journalMaxEntries,
      journal.length, ...journal, ...w.actions,
    ]);
    if (res === -5 || res === -6) return { written: false };
    if (typeof res === 'number') throw storeError(res, `${w.keyspace}/${w.key}`);
    return { written: true, seq: Number((res as unknown[])[1]) };
  }

  /** Journal entries after `sinceId` (exclusive), oldest first, at most `count`. */
  async readJournal(sinceId: string, count: number): Promise<JournalEntry[]> {
    const start = sinceId === '' ? '-' : `(${sinceId}`;
    const rows = await this.redis.xrange(this.keys.journal, start, '+', 'COUNT', count);
    return rows.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return { id, fields };
    });
  }

  async journalLength(): Promise<number> {
    return this.redis.xlen(this.keys.journal);
  }

  /** Oldest pending compensation actions: `[id, json]`. */
  async readOutbox(count: number): Promise<[string, string][]> {
    const rows = await this.redis.xrange(this.keys.outbox, '-', '+', 'COUNT', count);
    return rows.map(([id, flat]) => [id, flat[1] ?? '{}']);
  }

  async ackOutbox(id: string): Promise<void> {
    await this.redis.xdel(this.keys.outbox, id);
  }

  /** Moves an undeliverable action to the (bounded) dead-letter stream. */
  async deadLetterOutbox(id: string, json: string, reason: string): Promise<void> {
    await this.redis.multi()
      .xadd(`${this.keys.outbox}:dead`, 'MAXLEN', '~', DEAD_LETTER_MAX, '*', 'action', json, 'reason', reason)
      .xdel(this.keys.outbox, id)
      .exec();
  }
}

