/**
 * The store side of conflicts: versions kept pending by the apply script, the one-call
 * resolution write (fence + CAS + log + journal + action outbox), reading and acknowledging
 * the journal, the outbox and its dead letters. Every stream here is bounded; what a bound
 * drops is reported to the caller (counted and logged there), never dropped silently.
 */
import type { Redis } from 'ioredis';
import type { RecordVersion } from '../../conflict/types.js';
import { vvFromString, vvToString } from '../../conflict/vv.js';
import { hlcFromString } from '../../conflict/hlc.js';
import type { StoreKeys } from './keys.js';
import { scripts } from './scripts.js';
import { reofferPendingKeys, resolveConflictKeys, trimConflictsKeys } from './script-keys.js';
import { StoreErrorCode, storeError } from './errors.js';
import { fieldPairs } from './replies.js';

export const PENDING_SCAN_COUNT = 256;
/** Dead letters kept (exact bound; each one dropped past it is counted). */
export const DEAD_LETTER_MAX = 10_000;
/** Undelivered compensation actions kept (exact bound; each one dropped past it is counted). */
export const OUTBOX_MAX_ENTRIES = 100_000;
/** Bytes the conflict journal may hold (both sides' values in full, plus metadata). */
export const JOURNAL_MAX_BYTES = 256 * 1024 * 1024;
/** Journal fields holding raw value bytes (served base64). */
export const JOURNAL_VALUE_FIELDS = ['currentValue', 'incomingValue'] as const;
/** Marks an entry whose values are raw bytes (older entries hold base64 text). */
export const JOURNAL_VALUE_ENCODING = 'raw';

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
  /** The new version: its hlc and origin are the winner's write stamp. */
  readonly resolved: RecordVersion;
  /** Highest HLC of both sides, as "wall.logical" (the time of resolution is above it). */
  readonly hlcFloor: string;
  /** The fence to check, as a write on this partition would: the resolver's epoch and lease end on Redis's clock. */
  readonly fence?: { readonly epoch: number; readonly leaseEndRedisMs?: number | undefined } | undefined;
  /** Journal entry (field → value); empty: nothing to journal. */
  readonly journal: Record<string, string | Buffer>;
  readonly actions: readonly string[];
}

export type ResolutionResult =
  | { readonly written: true; readonly seq: number; readonly resolvedHlc: string; readonly journalEvicted: number; readonly outboxEvicted: number }
  | { readonly written: false; readonly reason: 'changed' | 'gone' | 'fenced' };

export interface JournalEntry {
  readonly id: string;
  readonly fields: Record<string, string>;
}

/**
 * The region store's seq floor (RegionStore): the resolution and re-offer scripts append to
 * the region's log, so they carry the write's check that the store still holds every seq this
 * process saw handed out, and a refusal is reported as the write's is.
 */
export interface SeqFloor {
  /** The highest log seq this process saw the store hand out (0: none yet). */
  headSeq(): number;
  /** A seq handed out here (may be shipped: the store must not hand it out again). */
  noteSeqSeen(seq: number): void;
  /** The store was found below the floor: reports the rollback (its listeners renew the log incarnation). */
  checkIdentity(): Promise<boolean>;
}

export interface ConflictStoreOptions {
  readonly region: string;
  readonly logMaxEntries: number;
  readonly logMaxBytes: number;
  readonly journalMaxEntries: number;
  readonly journalMaxBytes?: number;
  readonly outboxMaxEntries?: number;
  readonly deadLetterMaxEntries?: number;
  readonly nowMs: () => number;
  /** The coordinator token resolutions, re-offers and trims run under ('' with one instance per region: RegionStoreOptions). */
  readonly coordinatorToken?: (() => string) | undefined;
  /**
   * The seq floor resolutions and re-offers check (the region store on the same Redis);
   * without it they check none.
   */
  readonly seqFloor?: SeqFloor | undefined;
}

/** The age (and size) bounds the retention sweep applies (config `conflicts`). */
export interface RetentionBounds {
  readonly journalMaxEntries: number;
  readonly journalMaxBytes: number;
  readonly journalMaxAgeMs: number;
  readonly deadLetterMaxEntries: number;
  readonly deadLetterMaxAgeMs: number;
}

export interface RetentionResult {
  /** Journal entries dropped after the consumer's acknowledged id. */
  readonly journalEvicted: number;
  readonly journalDropped: number;
  /** Dead letters dropped (there is no ack cursor: every one is an eviction). */
  readonly deadLettersDropped: number;
  /** The journal may hold more to drop: call again. */
  readonly more: boolean;
}

/** Journal entries one sweep call drops at most (one script call: Redis is blocked meanwhile). */
export const RETENTION_ROUND_ENTRIES_MAX = 256;

export class ConflictStore {
  constructor(private readonly redis: Redis, private readonly keys: StoreKeys, private readonly opts: ConflictStoreOptions) {}

  /** Keys of one partition with pending conflicts (its own index): `[cursor, keys]`. */
  async scanPendingPartition(keyspace: string, partition: number, cursor: string): Promise<[string, string[]]> {
    return this.redis.sscan(this.partitionIndex(keyspace, partition), cursor, 'COUNT', PENDING_SCAN_COUNT);
  }

  /** How many keys have pending conflicts, per partition (one round trip). */
  async pendingPerPartition(parts: readonly { keyspace: string; partition: number }[]): Promise<number[]> {
    if (parts.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const p of parts) pipe.scard(this.partitionIndex(p.keyspace, p.partition));
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, n]) => { if (err) throw err; return Number(n); });
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
      const m = JSON.parse(meta.toString()) as { p: string; b: string; ct: string; h: string; o: string; e: string; t: string; x?: string };
      out.push({
        version, partition: Number(m.p), bucket: Number(m.b),
        record: {
          value: raw[`v:${version}`] ?? Buffer.alloc(0), contentType: m.ct, vv: vvFromString(version) ?? {},
          hlc: hlcFromString(m.h) ?? [0, 0], origin: m.o, epoch: Number(m.e), tombstone: m.t === '1',
          ...(m.x && { expiresAtMs: Number(m.x) }),
        },
      });
    }
    return out;
  }

  /**
   * Pending versions written by a gateway that kept only the global index: lists each such
   * key in its partition's index (reads the metadata of one version per key, never values).
   * Bounded by the global index; run once at start. Returns how many keys it indexed.
   */
  async indexPendingByPartition(): Promise<number> {
    let cursor = '0';
    let indexed = 0;
    do {
      const [next, members] = await this.redis.sscan(this.keys.pendingIndex, cursor, 'COUNT', PENDING_SCAN_COUNT);
      cursor = next;
      for (const m of members) {
        const i = m.indexOf('\0');
        const keyspace = m.slice(0, i);
        const key = m.slice(i + 1);
        const fields = await this.redis.hkeys(this.keys.pending(keyspace, key));
        const metaField = fields.find((f) => f.startsWith('m:'));
        if (!metaField) continue;
        const meta = await this.redis.hget(this.keys.pending(keyspace, key), metaField);
        const partition = Number((JSON.parse(meta ?? '{}') as { p?: string }).p);
        if (!Number.isInteger(partition)) continue;
        indexed += await this.redis.sadd(this.partitionIndex(keyspace, partition), key);
      }
    } while (cursor !== '0');
    return indexed;
  }

  /**
   * Appends the key's pending versions that have waited (or were last offered) `afterMs` ago
   * or more to this region's log again, for the resolving region (reofferPending-5.lua);
   * values stay in Redis. Returns the seqs appended.
   */
  async reofferPending(keyspace: string, key: string, afterMs: number): Promise<number[]> {
    const res = await scripts.reofferPending.call(this.redis, reofferPendingKeys(this.keys, keyspace, this.keys.partition(keyspace, key), key), {
      nowMs: this.opts.nowMs(), afterMs, logMaxEntries: this.opts.logMaxEntries, logMaxBytes: this.opts.logMaxBytes, keyspace, key,
      coordinatorToken: this.coordinatorToken(), minSeq: this.minSeq(),
    });
    if (typeof res === 'number') throw this.refused(res, `re-offer of ${keyspace}/${key}`);
    const seqs = (res as number[]).map(Number);
    for (const seq of seqs) this.opts.seqFloor?.noteSeqSeen(seq);
    return seqs;
  }

  /** Forgets a pending version the current record already dominates. */
  async dropPending(keyspace: string, key: string, partition: number, version: string): Promise<void> {
    const pend = this.keys.pendingIn(keyspace, partition, key);
    await this.redis.hdel(pend, `m:${version}`, `v:${version}`);
    if ((await this.redis.exists(pend)) === 0) {
      await this.redis.srem(this.keys.pendingIndex, `${keyspace}\0${key}`);
      await this.redis.srem(this.partitionIndex(keyspace, partition), key);
    }
  }

  /** Writes a resolution; `written: false` when the record or the pending entry changed, or the fence does not hold (retry later). */
  async writeResolution(w: ResolutionWrite): Promise<ResolutionResult> {
    const k = this.keys;
    const r = w.resolved;
    const journal = Object.entries(w.journal).flat();
    const res = await scripts.resolveConflict.call(this.redis, resolveConflictKeys(k, w.keyspace, w.partition, w.bucket, w.key), {
      region: this.opts.region, nowMs: this.opts.nowMs(), value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      contentType: r.contentType, tombstone: r.tombstone ? '1' : '0', expectedVersion: w.expectedVersion, incomingVersion: w.incomingVersion,
      resolvedVersion: vvToString(r.vv), winnerHlc: `${r.hlc[0]}.${r.hlc[1]}`, epoch: r.epoch,
      logMaxEntries: this.opts.logMaxEntries, logMaxBytes: this.opts.logMaxBytes, keyspace: w.keyspace, key: w.key,
      partition: w.partition, bucket: w.bucket, journalMaxEntries: this.opts.journalMaxEntries,
      journalMaxBytes: this.opts.journalMaxBytes ?? JOURNAL_MAX_BYTES, outboxMaxEntries: this.opts.outboxMaxEntries ?? OUTBOX_MAX_ENTRIES,
      origin: r.origin, fenced: w.fence ? '1' : '0', fenceEpoch: w.fence?.epoch ?? '', leaseEndRedisMs: w.fence?.leaseEndRedisMs ?? '',
      hlcFloor: w.hlcFloor, expiresAtMs: !r.tombstone && r.expiresAtMs !== undefined ? r.expiresAtMs : '', coordinatorToken: this.coordinatorToken(),
      minSeq: this.minSeq(), journalItems: journal.length,
    }, [...journal, ...w.actions]);
    if (res === StoreErrorCode.VersionChanged) return { written: false, reason: 'changed' };
    if (res === StoreErrorCode.PendingGone) return { written: false, reason: 'gone' };
    if (res === StoreErrorCode.Fenced) return { written: false, reason: 'fenced' };
    if (typeof res === 'number') throw this.refused(res, `resolution of ${w.keyspace}/${w.key}`);
    const [, seq, resolvedHlc, journalEvicted, outboxEvicted] = res as [string, number, string, number, number];
    this.opts.seqFloor?.noteSeqSeen(Number(seq));
    return { written: true, seq: Number(seq), resolvedHlc: String(resolvedHlc), journalEvicted: Number(journalEvicted), outboxEvicted: Number(outboxEvicted) };
  }

  /**
   * Journal entries after `sinceId` (exclusive), oldest first, at most `count`. Values come
   * back base64 (raw in Redis, base64 text in entries written before values were kept raw).
   */
  async readJournal(sinceId: string, count: number): Promise<JournalEntry[]> {
    const start = sinceId === '' ? '-' : `(${sinceId}`;
    const rows = await this.redis.xrangeBuffer(this.keys.journal, start, '+', 'COUNT', count);
    return rows.map(([id, flat]) => {
      const raw = new Map<string, Buffer>();
      for (let i = 0; i + 1 < flat.length; i += 2) raw.set(flat[i]!.toString(), flat[i + 1]!);
      const isRaw = raw.get('valueEncoding')?.toString() === JOURNAL_VALUE_ENCODING;
      const fields: Record<string, string> = {};
      for (const [name, bytes] of raw) {
        if (name === 'sz' || name === 'valueEncoding') continue;
        fields[name] = isRaw && (JOURNAL_VALUE_FIELDS as readonly string[]).includes(name) ? bytes.toString('base64') : bytes.toString();
      }
      return { id: id.toString(), fields };
    });
  }

  async journalLength(): Promise<number> {
    return this.redis.xlen(this.keys.journal);
  }

  /** Bytes the journal holds now (as counted against its bound). */
  async journalBytes(): Promise<number> {
    return Number((await this.redis.get(this.journalBytesKey)) ?? 0);
  }

  /** The consumer's acknowledged journal id ('' = none). */
  async journalAcked(): Promise<string> {
    return (await this.redis.get(this.journalAckedKey)) ?? '';
  }

  /**
   * Acknowledges every journal entry up to `id`: a bound that drops them later is not an
   * eviction. The cursor never moves back (an older id leaves it); returns the cursor.
   */
  async ackJournal(id: string): Promise<string> {
    const cur = await this.journalAcked();
    // never past the newest entry: an id from the future would make every later entry
    // count as read, and the bounds would then drop unread ones without counting them
    const newest = (await this.redis.xrevrange(this.keys.journal, '+', '-', 'COUNT', 1))[0]?.[0];
    if (newest === undefined) return cur;
    if (streamIdAfter(id, newest)) id = newest;
    if (cur !== '' && !streamIdAfter(id, cur)) return cur;
    await this.redis.set(this.journalAckedKey, id);
    return id;
  }

  /**
   * Applies the journal's and the dead letters' age and size bounds (trimConflicts-5.lua, on
   * Redis's clock); at most RETENTION_ROUND_ENTRIES_MAX journal entries per call.
   */
  async sweep(b: RetentionBounds): Promise<RetentionResult> {
    const res = (await scripts.trimConflicts.call(this.redis, trimConflictsKeys(this.keys), {
      journalMaxEntries: b.journalMaxEntries, journalMaxBytes: b.journalMaxBytes, journalMaxAgeMs: b.journalMaxAgeMs,
      deadLetterMaxEntries: b.deadLetterMaxEntries, deadLetterMaxAgeMs: b.deadLetterMaxAgeMs, roundEntriesMax: RETENTION_ROUND_ENTRIES_MAX,
      coordinatorToken: this.coordinatorToken(),
    })) as [number, number, number, number] | number;
    if (typeof res === 'number') throw storeError(res, 'conflict retention sweep');
    return { journalEvicted: Number(res[0]), journalDropped: Number(res[1]), deadLettersDropped: Number(res[2]), more: Number(res[3]) === 1 };
  }

  /** The seq floor the scripts check ('' = none). */
  private minSeq(): number | '' {
    return this.opts.seqFloor?.headSeq() || '';
  }

  /**
   * The error of a refused script; a store below the seq floor (StoreReset) is reported as a
   * rollback at once, as a refused write is (RegionStore.write): the check's listeners renew
   * the log incarnation and count the seqs lost, and the next attempt runs under it.
   */
  private refused(code: number, context: string): Error {
    if (code === StoreErrorCode.StoreReset) void this.opts.seqFloor?.checkIdentity().catch(() => {});
    return storeError(code, context);
  }

  private coordinatorToken(): string {
    return this.opts.coordinatorToken?.() ?? '';
  }

  /** Redis's clock, ms: the clock stream ids are made from (the outbox's age is measured on it). */
  async redisNowMs(): Promise<number> {
    const [sec, usec] = await this.redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  /** Oldest pending compensation actions: `[id, json]`. */
  async readOutbox(count: number): Promise<[string, string][]> {
    const rows = await this.redis.xrange(this.keys.outbox, '-', '+', 'COUNT', count);
    return rows.map(([id, flat]) => [id, flat[1] ?? '{}']);
  }

  async ackOutbox(id: string): Promise<void> {
    await this.redis.xdel(this.keys.outbox, id);
  }

  /**
   * Moves an undeliverable action to the dead-letter stream, bounded exactly at
   * `deadLetterMaxEntries`; returns how many older dead letters the bound dropped.
   */
  async deadLetterOutbox(id: string, json: string, reason: string): Promise<number> {
    const res = await this.redis.multi()
      .xadd(this.deadLetterKey, '*', 'action', json, 'reason', reason)
      .xtrim(this.deadLetterKey, 'MAXLEN', this.opts.deadLetterMaxEntries ?? DEAD_LETTER_MAX)
      .xdel(this.keys.outbox, id)
      .exec();
    return Number(res?.[1]?.[1] ?? 0);
  }

  /** Dead letters after `sinceId` (exclusive), oldest first: `{ id, action, reason }`. */
  async readDeadLetters(sinceId: string, count: number): Promise<{ id: string; action: string; reason: string }[]> {
    const rows = await this.redis.xrange(this.deadLetterKey, sinceId === '' ? '-' : `(${sinceId}`, '+', 'COUNT', count);
    return rows.map(([rid, flat]) => {
      const f = fieldPairs(flat);
      return { id: rid, action: f.action ?? '', reason: f.reason ?? '' };
    });
  }

  /** Removes the dead letters up to `id` (inclusive), read and handled by an operator; returns how many. */
  async ackDeadLetters(id: string): Promise<number> {
    const ids = (await this.redis.xrange(this.deadLetterKey, '-', id, 'COUNT', DEAD_LETTER_ACK_MAX)).map(([rid]) => rid);
    return ids.length === 0 ? 0 : this.redis.xdel(this.deadLetterKey, ...ids);
  }

  async deadLetterLength(): Promise<number> {
    return this.redis.xlen(this.deadLetterKey);
  }

  /**
   * Sizes for the gauges, in one round trip of constant cost (three XLEN and one GET: no
   * stream is read): journal entries and bytes, outbox entries, dead letters.
   */
  async sizes(): Promise<StreamSizes> {
    const res = await this.redis.multi()
      .xlen(this.keys.journal).get(this.journalBytesKey).xlen(this.keys.outbox).xlen(this.deadLetterKey)
      .exec();
    if (!res) throw new Error('stream sizes: transaction aborted');
    const [journal, bytes, outbox, dead] = res.map(([err, v]) => {
      if (err) throw err;
      return Number(v ?? 0);
    }) as [number, number, number, number];
    return { journalEntries: journal, journalBytes: bytes, outboxEntries: outbox, deadLetters: dead };
  }

  private partitionIndex(keyspace: string, partition: number): string {
    return this.keys.partitionPending(keyspace, partition);
  }

  private get journalBytesKey(): string { return this.keys.journalBytes; }
  private get journalAckedKey(): string { return this.keys.journalAcked; }
  private get deadLetterKey(): string { return this.keys.deadLetters; }
}

/** What `ConflictStore.sizes` reads. */
export interface StreamSizes {
  readonly journalEntries: number;
  readonly journalBytes: number;
  readonly outboxEntries: number;
  readonly deadLetters: number;
}

/** Dead letters removed by one acknowledgement at most (ack again for more). */
export const DEAD_LETTER_ACK_MAX = 10_000;

/** True when stream id `a` ("ms-seq") is after `b`. */
export function streamIdAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am > bm || (am === bm && (as ?? 0) > (bs ?? 0));
}
