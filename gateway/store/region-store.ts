/**
 * The region's store: one Redis, every mutation one Lua call. Implements the replication
 * contracts (LogSource for the sender, ChangeSink for the receiver).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RecordVersion } from '../../conflict/types.js';
import { vvFromString } from '../../conflict/vv.js';
import { hlcFromString } from '../../conflict/hlc.js';
import type { ApplyOutcome, ChangeRecord, ChangeSink, LogSource } from '../../replicator/types.js';
import { type LogEntry, packEntry, takeWithin } from '../../replicator/packed.js';
import { STORE_LAYOUT, StoreKeys, type PartitionOf } from './keys.js';
import { type SlotOwners, applyChangesCall, callGroups, groupByPartition, putRecordKeys, trimLogKeys } from './script-keys.js';
import { RedisClock, redisTimeMs } from './redis-clock.js';
import { defineScripts, scripts } from './scripts.js';
import { FENCES_PER_CALL_MAX, FenceWriter, type FenceChange } from './fence-writer.js';
import { StoreError, StoreErrorCode, StoreLayoutError, storeError } from './errors.js';
import { fieldPairs } from './replies.js';
import { ReplicaUnavailableError, StoreUnavailableError, WriteOutcomeUnknownError } from '../errors.js';

export const TRIM_BATCH_MAX = 4096;
/** The Redis clock mapping takes a fresh TIME sample when its newest is older than this. */
export const REDIS_CLOCK_RESAMPLE_MS = 1000;
/** Passed as the store identity while a lost one is being replaced: matches no store, so writes wait. */
const UNCLAIMED = '-';
/** A raised floor is this much per ms since the last raise above the previous one: more than one key takes writes per ms. */
export const COUNTER_FLOOR_PER_MS = 1024;
/** The step above a floor persisted without the time of its raise (by an earlier version). */
export const COUNTER_FLOOR_STEP = 2 ** 32;

/**
 * The next counter floor: the wall clock in ms for the first one (above any counter plain
 * increments issue); later ones COUNTER_FLOOR_PER_MS per ms since the previous raise (at
 * least one ms) above it. Growing with time, not by a fixed step, matters when the store
 * comes back with older data: the floor in the old data is older, and a fixed step from it
 * would hand out exactly the floor a lost raise had used — the same counters for other
 * content. Raised from the old floor, the new one is above the lost one and above what
 * a key took since (fewer than COUNTER_FLOOR_PER_MS writes per ms), unless the wall clock
 * went back.
 */
/**
 * A floor above every counter this region issued before `nowMs`, whatever floors older data
 * forgot: every floor nextCounterFloor hands out at wall time t is at most
 * COUNTER_FLOOR_PER_MS × t (the first one is t, each later one grows by that rate), and a key
 * takes fewer than COUNTER_FLOOR_PER_MS writes per ms above it. For a store that lost or
 * rolled back its data (its own floor may be older than one the peers have seen).
 */
export function counterFloorAboveAll(nowMs: number): number {
  return COUNTER_FLOOR_PER_MS * (Math.floor(nowMs) + 1);
}

export function nextCounterFloor(prev: number, prevAtMs: number, nowMs: number): number {
  const now = Math.floor(nowMs);
  if (prev === 0) return now;
  const step = prevAtMs > 0 ? Math.max(1, Math.ceil(nowMs - prevAtMs)) * COUNTER_FLOOR_PER_MS : COUNTER_FLOOR_STEP;
  const next = Math.max(now, prev + step);
  if (!Number.isSafeInteger(next)) throw new RangeError(`counter floor ${next} is not a safe integer`);
  return next;
}
export const APPLY_BATCH_RECORDS_MAX = 4096;

/** Incarnations of one origin's log remembered by the frontier (the newest ones). */
export const FRONTIER_INCARNATIONS_MAX = 4;

/**
 * What this region applied of each origin's log: per origin and incarnation the highest seq
 * (the store's `applied` hash, kept here in memory as the applies move it), and the
 * incarnation applied last per origin. Session tokens (gateway/http/session.ts) read it and
 * wait on it: `onApplied` listeners run after every batch applied, no polling.
 */
export class AppliedFrontier {
  private readonly seqs = new Map<string, Map<string, number>>();
  private readonly current = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  /**
   * The incarnation of this region's own log as a store of the gateway last read or wrote it
   * in Redis: the store that ships the log renews it after a data loss, and the store the
   * reads use would otherwise keep the one it cached.
   */
  ownIncarnation: string | undefined;
  /**
   * Bumped by `lost()`: what was applied, and the own log, are gone with the store's data;
   * readers of the frontier (the session gate) drop what they cached of it.
   */
  generation = 0;
  /** Set by `lost()` until the own log's new incarnation is in Redis (`ownRenewed`). */
  ownPending = false;

  /**
   * The region's Redis lost or rolled back its data: nothing applied is known any more (a
   * session token naming a peer's position waits until the applies move it again) and the
   * own log starts a new incarnation (tokens of the old one are data this region lost).
   */
  lost(): void {
    this.seqs.clear();
    this.current.clear();
    this.ownIncarnation = undefined;
    this.ownPending = true;
    this.generation++;
  }

  /** The own log's new incarnation is written (after `lost()`). */
  ownRenewed(incarnation: string): void {
    this.ownIncarnation = incarnation;
    this.ownPending = false;
  }

  /** A batch of `origin`'s log at `incarnation` was applied up to `seq`. */
  applied(origin: string, incarnation: string, seq: number): void {
    this.note(origin, incarnation, seq);
    this.current.set(origin, incarnation);
    for (const l of [...this.listeners]) l();
  }

  /** Seeds from the store's applied hash (`origin|incarnation` → seq), without marking a current incarnation. */
  seed(all: Readonly<Record<string, number>>): void {
    for (const [field, seq] of Object.entries(all)) {
      const bar = field.lastIndexOf('|');
      if (bar > 0) this.note(field.slice(0, bar), field.slice(bar + 1), seq);
    }
  }

  /** The highest applied seq of `origin` at `incarnation` (0: none). */
  seq(origin: string, incarnation: string): number {
    return this.seqs.get(origin)?.get(incarnation) ?? 0;
  }

  /** Per origin, the incarnation applied last in this process and its seq. */
  currentAll(): { origin: string; incarnation: string; seq: number }[] {
    return [...this.current].map(([origin, incarnation]) => ({ origin, incarnation, seq: this.seq(origin, incarnation) }));
  }

  /** Runs `listener` after every applied batch; the result removes it. */
  onApplied(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  private note(origin: string, incarnation: string, seq: number): void {
    let byInc = this.seqs.get(origin);
    if (!byInc) this.seqs.set(origin, (byInc = new Map()));
    const prev = byInc.get(incarnation);
    if (prev !== undefined) byInc.delete(incarnation); // re-inserted: the newest last
    byInc.set(incarnation, Math.max(prev ?? 0, seq));
    while (byInc.size > FRONTIER_INCARNATIONS_MAX) byInc.delete(byInc.keys().next().value!);
  }
}

export interface RegionStoreOptions {
  readonly region: string;
  readonly prefix: string;
  /** The partition of a key (the gateway's partition maps): the hash tag of its keys (keys.ts). */
  readonly partitionOf: PartitionOf;
  readonly logMaxEntries: number;
  readonly logMaxBytes: number;
  readonly nowMs: () => number;
  /** Monotonic ms (lease ends are on this clock); default performance.now. */
  readonly monoMs?: () => number;
  /** The highest seq of a log read (the senders ship what they read): `noteSeqSeen` of the store that writes. */
  readonly onLogRead?: (lastSeq: number) => void;
  /**
   * How the outcomes of a peer's writes with an Idempotency-Key are remembered when their
   * changes are applied (the config's `idempotency`; default 24 h and 1,000,000).
   */
  readonly idempotency?: { readonly ttlMs: number; readonly entriesMax: number } | undefined;
  /**
   * What this region applied of each origin's log, shared by the stores of one gateway (the
   * one that applies and the one the reads use): session tokens wait on it (applied-frontier.ts).
   */
  readonly frontier?: AppliedFrontier | undefined;
  /**
   * The coordinator token the scripts that change shared state for the coordinator run
   * under (applying peers' changes, fences, trims: includes/coordinator.lua); '' (the
   * default) with one instance per region, where nothing is checked.
   */
  readonly coordinatorToken?: (() => string) | undefined;
  /**
   * Which partitions one batch script call may hold (script-keys.ts `callGroups`): a
   * standalone or Sentinel Redis owns every slot (the default: a batch in one call); a Redis
   * Cluster would need one call per slot.
   */
  readonly slotOwners?: SlotOwners | undefined;
}

export const DEFAULT_APPLY_IDEMPOTENCY = { ttlMs: 24 * 3_600_000, entriesMax: 1_000_000 } as const;

export interface WriteRequest {
  readonly keyspace: string;
  readonly key: string;
  readonly partition: number;
  readonly bucket: number;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly tombstone: boolean;
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: boolean | undefined;
  readonly epoch: number;
  /** Require the partition's fence key to carry `epoch` (a live lease). */
  readonly fenced: boolean;
  /**
   * With `fenced`: the writer's lease end (monotonic ms). The script refuses the write when
   * Redis runs it at or after that instant (a command delayed behind a stall or replayed).
   */
  readonly leaseEndMonoMs?: number | undefined;
  /**
   * `durability: replica`: once the script ran, Redis WAIT for this many in-region replicas
   * to hold the write, at most `timeoutMs`; fewer is WriteOutcomeUnknownError (the write is
   * on the master, it may or may not survive a failover), never a success.
   */
  readonly replicaWait?: { readonly replicas: number; readonly timeoutMs: number } | undefined;
  /**
   * `incr`: `value` is an integer in decimal (may be negative) added to this region's entry of
   * the PN-counter JSON in the script itself (no read-modify-write outside Redis).
   */
  readonly op?: 'incr' | 'expire' | 'sweep' | undefined;
  /**
   * The version's time to live (ms; absent or 0: it never expires). Its expiry is the write's
   * own HLC wall time + this, stored in the record as an absolute wall time. With `op:
   * 'expire'` the live value is kept and only the expiry set (0: removed). `op: 'sweep'` is
   * the expiry tombstone: `tombstone` with `ifMatch` the expired version exactly.
   */
  readonly ttlMs?: number | undefined;
  /**
   * An Idempotency-Key: the outcome is remembered with the write, in the same script, for
   * `ttlMs`; a retry with the same `fingerprint` gets it back (`replayed`) without writing,
   * another request with the key is IdempotencyKeyReused, and with `entriesMax` outcomes
   * remembered already the write is refused (IdempotencyFull).
   */
  readonly idempotency?: IdempotencyRequest | undefined;
}

export interface IdempotencyRequest {
  readonly key: string;
  readonly fingerprint: string;
  readonly ttlMs: number;
  readonly entriesMax: number;
}

/** What a store that lost or rolled back its data is known to have lost. */
export interface StoreLoss {
  /**
   * A rollback: the log seqs handed out that the store no longer holds (writes, acknowledged
   * or not, and conflict resolutions). At least as many as the acknowledged writes it lost.
   */
  readonly seqsLost?: number;
}

export interface WriteResult {
  readonly created: boolean;
  readonly version: string;
  readonly seq: number;
  readonly hlc: string;
  /** The log entry exactly as appended (replicator/packed.ts); empty for a replay. */
  readonly packed: Buffer;
  /** The written version's absolute expiry, wall ms (absent: none, or a replay). */
  readonly expiresAtMs?: number | undefined;
  /** The first outcome of a retried request (Idempotency-Key): nothing was written now. */
  readonly replayed?: { readonly tombstone: boolean; readonly epoch: number } | undefined;
}

export interface StoredRecord extends RecordVersion {
  readonly version: string;
  readonly partition: number;
  readonly bucket: number;
}

const RECORD_FIELDS = ['v', 'ct', 'vv', 'h', 'o', 'e', 't', 'p', 'b', 'x'] as const;

/**
 * A stored record a read answers with: present, not a tombstone, and not expired at `nowMs`
 * (the reading gateway's wall clock): an expired version reads as absent at once, whether or
 * not its tombstone was written yet.
 */
export function isReadable<T extends RecordVersion>(rec: T | null | undefined, nowMs: number): rec is T {
  return !!rec && !rec.tombstone && !isExpired(rec, nowMs);
}

/** The publishBoard script's answer when the board is not the one the coordinator wrote last. */
const BOARD_NOT_EXPECTED = -12;

/** One publication of the coordinator's board (RegionStore.publishBoard). */
export interface BoardPublication {
  readonly boardId: string;
  /** The version this coordinator wrote last under boardId; 0: publish every entry. */
  readonly expectedVersion: number;
  /** The head's publication count this coordinator wrote last under boardId (a lost head-only publication: refused). */
  readonly expectedPublication: number;
  readonly head: ReadonlyMap<string, string>;
  readonly parts: ReadonlyMap<string, string>;
  readonly validMs: number;
  readonly changesMax: number;
  readonly changeFieldsMax: number;
}

/** One read of the board (RegionStore.readBoard). */
export interface BoardRead {
  readonly redisNowMs: number;
  readonly incarnation: string | null;
  /** The head's fields (_id, _v, _end, l, h, c, f, a:<peer>: board.ts). */
  readonly head: Readonly<Record<string, string>>;
  readonly entries:
    | { readonly mode: 'none' | 'same' }
    | { readonly mode: 'diff'; readonly fields: ReadonlyMap<string, string | null> }
    | { readonly mode: 'whole'; readonly fields: Readonly<Record<string, string>> };
}

/** The version has an expiry and it is at or before `nowMs`. */
export function isExpired(rec: { readonly expiresAtMs?: number | undefined }, nowMs: number): boolean {
  return rec.expiresAtMs !== undefined && rec.expiresAtMs <= nowMs;
}

export class RegionStore implements ChangeSink {
  readonly keys: StoreKeys;
  /** Which partitions one batch script call may hold (RegionStoreOptions.slotOwners). */
  get slotOwners(): SlotOwners {
    return this.opts.slotOwners ?? 'single-node';
  }
  /** Maps lease ends onto Redis's clock (fences and fenced writes carry absolute ends), for the main connection. */
  readonly redisClock: RedisClock;
  private readonly main: Lane;
  /** `durability: replica` writes and their WAIT (see `write`), when the gateway gave connections for them. */
  private readonly replicaLanes: readonly Lane[];
  /** Monotonic ms until which writes that need a replica are refused (0: none; see `replicaGate`). */
  private replicaShortUntilMs = 0;
  private readonly monoMs: () => number;
  private incarnationId: string | undefined;
  /** Renewals asked for (renewIncarnation) and the last one written. */
  private renewals = 0;
  private renewed = 0;
  /** The partitions' fences, written in batches (fence-writer.ts). */
  private readonly fences = new FenceWriter((batch, issued) => this.writeFences(batch, issued),
    (err) => !(err instanceof StoreError && err.code === StoreErrorCode.NotCoordinator));

  /**
   * `replicaWaitRedis`: connections of their own for writes that WAIT for a replica. WAIT
   * blocks the connection it runs on until the replicas answer or it times out, so on the
   * main one a slow or missing replica would hold up every read, fence renewal and
   * `durability: local` write queued behind it.
   */
  constructor(readonly redis: Redis, private readonly opts: RegionStoreOptions, replicaWaitRedis: readonly Redis[] = []) {
    this.keys = new StoreKeys(opts.prefix, opts.partitionOf);
    this.monoMs = opts.monoMs ?? (() => performance.now());
    this.main = lane(redis);
    this.redisClock = this.main.clock;
    this.replicaLanes = replicaWaitRedis.map(lane);
    this.appliedFrontier = opts.frontier ?? new AppliedFrontier();
  }

  private readonly appliedFrontier: AppliedFrontier;

  /**
   * The lowest value this region's own version-vector counter takes in a write (0: none).
   * A region whose store was wiped restarts every key's counter at 1, below what its peers
   * may hold from before; a write that is then dominated by an older version would be lost
   * without a conflict. The bootstrap gate (gateway/bootstrap-gate.ts) prevents that by
   * pulling the peers first; when writes open without a finished bootstrap, the floor (the
   * wall clock in ms, above any counter issued before) makes every new version dominate or
   * conflict, never lose. Persisted; loaded at start.
   */
  private counterFloor = 0;
  /** Wall ms of the raise that set `counterFloor` (0: unknown). */
  private counterFloorAtMs = 0;

  /** Loads the persisted floor; a higher floor held in memory (raised while Redis was away) is persisted. */
  async loadCounterFloor(): Promise<number> {
    const [floorText, atText] = await this.redis.mget(this.keys.counterFloor, this.keys.counterFloorAt);
    const stored = Number(floorText) || 0;
    if (this.counterFloor > stored) await this.persistCounterFloor();
    else if (stored > this.counterFloor) {
      this.counterFloor = stored;
      this.counterFloorAtMs = Number(atText) || 0;
    }
    return this.counterFloor;
  }

  /**
   * Raises the floor at once for this process (`nextCounterFloor`, `nowMs` the wall clock;
   * with `aboveAll`, at least `counterFloorAboveAll`: the store lost or rolled back its data,
   * so its own floor may be older than one the peers have seen), then persists it with the
   * time of the raise.
   */
  async raiseCounterFloor(nowMs: number, aboveAll = false): Promise<void> {
    const next = nextCounterFloor(this.counterFloor, this.counterFloorAtMs, nowMs);
    this.counterFloor = aboveAll ? Math.max(next, counterFloorAboveAll(nowMs)) : next;
    this.counterFloorAtMs = Math.floor(nowMs);
    await this.persistCounterFloor();
  }

  /** The floor in effect for this process and the wall ms of its raise (published on the coordinator's board). */
  counterFloorState(): { floor: number; atMs: number } {
    return { floor: this.counterFloor, atMs: this.counterFloorAtMs };
  }

  /**
   * Takes a floor another instance of the region raised (the coordinator's, from its board)
   * when it is above this process's: with several instances the floor is per process, and the
   * instance that handled a loss of the store raised only its own. Memory only: the raising
   * instance persists it.
   */
  adoptCounterFloor(floor: number, atMs: number): void {
    if (!Number.isFinite(floor) || floor <= this.counterFloor) return;
    this.counterFloor = floor;
    this.counterFloorAtMs = Number.isFinite(atMs) ? Math.floor(atMs) : 0;
  }

  private async persistCounterFloor(): Promise<void> {
    await this.redis.mset(this.keys.counterFloor, String(this.counterFloor), this.keys.counterFloorAt, String(this.counterFloorAtMs));
  }

  /**
   * The store's identity: a random id kept in Redis. Once claimed, every write checks it in
   * its script, so a write never lands (nor is acknowledged) in a Redis that lost its data
   * under the running gateway — it fails with StoreReset, and `checkIdentity` tells the
   * listeners before claiming a new id.
   */
  private storeId: string | undefined;
  /** This process held an identity before (a later claim that creates one means a loss). */
  private claimedOnce = false;
  private identityCheck: Promise<boolean> | undefined;
  /**
   * Highest log seq this process saw the store hand out: its writes' (acknowledged or not)
   * and what the senders read (`noteSeqSeen`). A lower seq in Redis is a rollback; the write
   * script refuses to run on it (ARGV[19]), so no seq is handed out twice.
   */
  private maxSeqSeen = 0;
  private readonly identityListeners = new Set<(loss: StoreLoss) => void>();

  /**
   * The store's key layout (keys.ts STORE_LAYOUT): written into a store that holds no
   * identity yet (new, or lost its data); a store with another layout, or with an identity
   * and no layout (a gateway before the partition hash tags wrote it), is refused
   * (StoreLayoutError): its data is under other key names. Not migrated: stop the region,
   * empty its Redis (FLUSHDB or the prefix's keys) and start it, and it is filled from its
   * peers like a new region (docs/operations.md).
   */
  async checkLayout(): Promise<void> {
    if (this.layoutProblem) throw this.layoutProblem;
    const [layout, id] = await this.redis.mget(this.keys.layout, this.keys.identity);
    if (layout === STORE_LAYOUT) return;
    if (layout === null && id === null) {
      await this.redis.set(this.keys.layout, STORE_LAYOUT, 'NX');
      if ((await this.redis.get(this.keys.layout)) === STORE_LAYOUT) return;
      return this.checkLayout();
    }
    this.layoutProblem = new StoreLayoutError(`the region's Redis holds data of ${layout === null ? 'the key layout before partition hash tags' : `key layout ${layout}`} `
      + `under prefix ${JSON.stringify(this.opts.prefix)}; this gateway uses ${STORE_LAYOUT}. It is not migrated: empty that Redis (or the prefix's keys) and start again: the region is filled from its peers`);
    throw this.layoutProblem;
  }

  private layoutProblem: StoreLayoutError | undefined;

  private async claim(): Promise<{ id: string; created: boolean }> {
    await this.checkLayout();
    const created = (await this.redis.set(this.keys.identity, randomBytes(8).toString('hex'), 'NX')) === 'OK';
    const id = await this.redis.get(this.keys.identity);
    if (!id) throw new Error('store identity vanished right after SET NX');
    return { id, created };
  }

  /** Runs `listener` (synchronously, before a new identity is claimed) whenever the store lost its data. */
  onIdentityLost(listener: (loss: StoreLoss) => void): () => void {
    this.identityListeners.add(listener);
    return () => this.identityListeners.delete(listener);
  }

  /**
   * True when the claimed identity is still there (the first call claims one). When it is
   * gone or replaced, the store lost its data: the listeners run, then a new identity is
   * claimed; false. The same when the log seq went below one a write was acknowledged
   * with (Redis came back from an older snapshot). Until a lost identity is claimed anew,
   * writes are refused (they carry an id no store holds). A claim that has to create the
   * identity after this process held one is a loss too. Concurrent calls share one check.
   */
  checkIdentity(): Promise<boolean> {
    this.identityCheck ??= (async () => {
      try {
        if (this.storeId === undefined) {
          const { id, created } = await this.claim();
          const lost = created && this.claimedOnce;
          if (lost) this.maxSeqSeen = 0; // the old log is gone with the data: a new incarnation starts over
          if (lost) this.identityLost();
          this.storeId = id;
          this.claimedOnce = true;
          return !lost;
        }
        // one round trip, on the connection the writes use: a write acknowledged before
        // this check was processed before it, so the log seq cannot be below its seq
        // the floor is what was seen BEFORE the MGET was sent: a seq the senders read on the
        // replication connection while it was on its way may have been written after Redis ran
        // it, so comparing with the floor at reply time took a busy store for a rolled-back one
        const floor = this.maxSeqSeen;
        const [id, seq] = await this.redis.mget(this.keys.identity, this.keys.seq);
        if (id === this.storeId) {
          if ((Number(seq) || 0) >= floor) return true;
          // same identity, older data: Redis came back from an older snapshot (the last
          // second of an appendfsync-everysec file, an old RDB, a failover to a replica that
          // missed writes); as unsafe as a loss
          const head = Number(seq) || 0;
          const seqsLost = this.maxSeqSeen - head;
          this.maxSeqSeen = head;
          this.identityLost({ seqsLost });
          return false;
        }
        this.storeId = undefined;
        // the old log went with the data (a new log incarnation starts over): its seqs are no
        // floor for the new one, or the next check counted this loss a second time
        this.maxSeqSeen = 0;
        this.identityLost();
        this.storeId = (await this.claim()).id;
        return false;
      } finally {
        this.identityCheck = undefined;
      }
    })();
    return this.identityCheck;
  }

  /**
   * A log seq this store handed out that may live on elsewhere (the senders read it from the
   * log and may have shipped it): a store found holding a lower seq came back with older
   * data, and the write script refuses to hand that seq out again (see `write`).
   */
  noteSeqSeen(seq: number): void {
    if (seq > this.maxSeqSeen) this.maxSeqSeen = seq;
  }

  /** The log's incarnation as this store last read or wrote it (undefined: not yet, or renewing). */
  knownIncarnation(): string | undefined {
    return this.incarnationId;
  }

  /** The highest seq of its own log this process saw the store hand out (0: none yet). */
  headSeq(): number {
    return this.maxSeqSeen;
  }

  /** The log's last seq and incarnation as Redis holds them now (null: no incarnation yet). */
  async logHeadAndIncarnation(): Promise<{ head: number; incarnation: string | null }> {
    const [seq, incarnation] = await this.redis.mget(this.keys.seq, this.keys.incarnation);
    return { head: Number(seq ?? 0), incarnation: incarnation ?? null };
  }

  /** The log's last seq as Redis holds it now (any instance's writes). */
  async logHeadSeq(): Promise<number> {
    return Number((await this.redis.get(this.keys.seq)) ?? 0);
  }

  private identityLost(loss: StoreLoss = {}): void {
    for (const l of this.identityListeners) l(loss);
  }

  async write(req: WriteRequest): Promise<WriteResult> {
    if (req.replicaWait) this.replicaGate(req.replicaWait.timeoutMs);
    const on = req.replicaWait ? this.leastBusyReplicaLane() : this.main;
    on.inFlight++;
    try {
      return await this.writeOn(on, req);
    } finally {
      on.inFlight--;
    }
  }

  /**
   * A script and its WAIT run back to back on one connection, and the WAIT holds that
   * connection's next script until the replica answered (one replica round trip, about 7 ms
   * for a lone write on loopback): the writes spread over several connections.
   */
  private leastBusyReplicaLane(): Lane {
    let best = this.main;
    for (const l of this.replicaLanes) if (best === this.main || l.inFlight < best.inFlight) best = l;
    return best;
  }

  private async writeOn(on: Lane, req: WriteRequest): Promise<WriteResult> {
    const k = this.keys;
    if (this.layoutProblem) throw this.layoutProblem;
    if (k.partition(req.keyspace, req.key) !== req.partition) throw new Error(`write of ${req.keyspace}/${req.key} to partition ${req.partition}; the key is in ${k.partition(req.keyspace, req.key)}`);
    const writerEnd = req.fenced && req.leaseEndMonoMs !== undefined ? await this.toRedisDeadline(req.leaseEndMonoMs, on) : undefined;
    const res = await guardWrite(scripts.putRecord.callBuffer(on.redis, putRecordKeys(k, req.keyspace, req.partition, req.bucket, req.key, req.idempotency?.key), {
      region: this.opts.region, nowMs: this.opts.nowMs(), value: Buffer.from(req.value.buffer, req.value.byteOffset, req.value.byteLength),
      contentType: req.contentType, tombstone: req.tombstone ? '1' : '0', ifMatch: req.ifMatch ?? '', ifNoneMatch: req.ifNoneMatch ? '1' : '0',
      epoch: req.epoch, fenced: req.fenced ? '1' : '0', logMaxEntries: this.opts.logMaxEntries, logMaxBytes: this.opts.logMaxBytes,
      keyspace: req.keyspace, key: req.key, partition: req.partition, bucket: req.bucket, counterFloor: this.counterFloor,
      storeId: this.storeId ?? (this.claimedOnce ? UNCLAIMED : ''), leaseEndRedisMs: writerEnd ?? '', minSeq: this.maxSeqSeen || '',
      idempotencyKey: req.idempotency?.key ?? '', fingerprint: req.idempotency?.fingerprint ?? '',
      idempotencyTtlMs: req.idempotency?.ttlMs ?? 0, idempotencyEntriesMax: req.idempotency?.entriesMax ?? 0, op: req.op ?? '',
      ttlMs: req.ttlMs ?? '',
    }));
    if (res === StoreErrorCode.StoreReset) void this.checkIdentity().catch(() => {});
    if (typeof res === 'number') throw storeError(res, `${req.keyspace}/${req.key}`);
    if ((res as unknown[])[0] === 2) {
      // the first attempt may have answered before its replica held it: wait again
      if (req.replicaWait) await this.waitReplicas(on, req.replicaWait.replicas, req.replicaWait.timeoutMs, `${req.keyspace}/${req.key}`);
      return replayedResult(res as ReplayReply);
    }
    const [created, version, seq, hlc, packed, expires] = res as [number, Buffer, number, Buffer, Buffer, Buffer];
    if (seq > this.maxSeqSeen) this.maxSeqSeen = seq;
    if (req.replicaWait) await this.waitReplicas(on, req.replicaWait.replicas, req.replicaWait.timeoutMs, `${req.keyspace}/${req.key}`);
    const expiresAtMs = expires && expires.length > 0 ? Number(expires.toString()) : undefined;
    return { created: created === 1, version: version.toString(), seq, hlc: hlc.toString(), packed, ...(expiresAtMs !== undefined && { expiresAtMs }) };
  }


  /**
   * After a WAIT fell short, writes that need a replica are refused before they run (503
   * replica_unavailable: nothing written) for `timeoutMs`, then one goes through as a probe
   * while the others are still refused. Without this, while the master has no replica (after
   * a failover, until the sentinels turn the old master into its replica: seconds), every
   * such write would run, block the connection for `timeoutMs` behind the ones before it,
   * and answer write_outcome_unknown.
   */
  private replicaGate(timeoutMs: number): void {
    if (this.replicaShortUntilMs === 0) return;
    const now = this.monoMs();
    if (now < this.replicaShortUntilMs) throw new ReplicaUnavailableError(`a write waited ${timeoutMs} ms for one in vain; the next probe is due in ${Math.ceil(this.replicaShortUntilMs - now)} ms`);
    this.replicaShortUntilMs = now + timeoutMs; // this write is the probe
  }

  /**
   * Redis WAIT on the connection the write ran on (it counts the replicas that acknowledged
   * this connection's writes so far, so this one's too). The write already ran: any failure
   * here — too few replicas, the WAIT not sent or not answered — leaves its outcome unknown.
   */
  private async waitReplicas(on: Lane, replicas: number, timeoutMs: number, what: string): Promise<void> {
    let acked: number;
    try {
      acked = Number(await on.redis.wait(replicas, timeoutMs));
    } catch (err) {
      throw new WriteOutcomeUnknownError(`${what} ran on the master; the replica wait failed: ${(err as Error).message}`);
    }
    if (acked < replicas) {
      this.replicaShortUntilMs = this.monoMs() + timeoutMs;
      throw new WriteOutcomeUnknownError(`${what} ran on the master; ${acked} of ${replicas} replica(s) acknowledged it within ${timeoutMs} ms`);
    }
    this.replicaShortUntilMs = 0;
  }

  /** The replication log as the sender sees it. */
  asLogSource(): LogSource {
    return {
      read: (afterSeq, maxRecords, maxBytes) => this.readLog(afterSeq, maxRecords, maxBytes),
      bounds: () => this.bounds(),
      trimThrough: (seq) => this.trimThrough(seq),
      incarnation: () => this.incarnation(),
    };
  }

  async get(keyspace: string, key: string): Promise<StoredRecord | null> {
    const raw = await guard(this.redis.hmgetBuffer(this.keys.record(keyspace, key), ...RECORD_FIELDS));
    if (!raw[2]) return null;
    return decodeRecord(raw);
  }

  /** Several records of a keyspace in one round trip (null: absent), in the order asked. */
  async getMany(keyspace: string, keys: readonly string[]): Promise<(StoredRecord | null)[]> {
    if (keys.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const key of keys) pipe.hmgetBuffer(this.keys.record(keyspace, key), ...RECORD_FIELDS);
    return (await pipelineReplies(pipe)).map((raw) => {
      const r = raw as (Buffer | null)[];
      return r[2] ? decodeRecord(r) : null;
    });
  }

  /** The sizes of some records' values, in bytes (0: absent), in one round trip: bounds a batch read before it is made. */
  async valueSizes(keyspace: string, keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const key of keys) pipe.hstrlen(this.keys.record(keyspace, key), 'v');
    return (await pipelineReplies(pipe)).map(Number);
  }

  /**
   * Keys of a partition whose expiry is at or before `nowMs` by the partition's expiry index,
   * the earliest first, at most `limit` (the sweep's bound per round).
   */
  async expiredKeys(keyspace: string, partition: number, nowMs: number, limit: number): Promise<string[]> {
    return guard(this.redis.zrangebyscore(this.keys.expiry(keyspace, partition), '-inf', Math.floor(nowMs), 'LIMIT', 0, limit));
  }

  /**
   * `expiredKeys` of several partitions of a keyspace, the reads sent together (one round trip;
   * one single-key command each, so each goes to its partition's slot). At most `limit` each.
   */
  async expiredKeysOf(keyspace: string, partitions: readonly number[], nowMs: number, limit: number): Promise<string[][]> {
    return Promise.all(partitions.map((p) => this.expiredKeys(keyspace, p, nowMs, limit)));
  }

  /** The buckets of a partition holding (or having held) keys: the fields of its digest hash, ascending. */
  async bucketsInUse(keyspace: string, partition: number): Promise<number[]> {
    const fields = await guard(this.redis.hkeys(this.keys.digest(keyspace, partition)));
    return fields.map(Number).filter((b) => Number.isInteger(b) && b >= 0).sort((a, b) => a - b);
  }

  /**
   * The keys of some buckets of a partition that hold a live value (tombstones and versions
   * expired at `opts.nowMs()` left out),
   * each bucket read whole in one command (HKEYS of its member hash): two round trips (three
   * with `membersMax`: then only the first buckets whose members fit it together, at least
   * one, are read). `members`: the members read, tombstones included.
   */
  async liveKeysOfBuckets(keyspace: string, partition: number, buckets: readonly number[], membersMax = Number.POSITIVE_INFINITY): Promise<{ lists: string[][]; members: number }> {
    if (buckets.length === 0) return { lists: [], members: 0 };
    if (Number.isFinite(membersMax)) {
      // only the first buckets whose members fit `membersMax` together (always the first one)
      const sizes = this.redis.pipeline();
      for (const b of buckets) sizes.hlen(this.keys.members(keyspace, partition, b));
      const lens = (await pipelineReplies(sizes)).map(Number);
      let total = 0;
      let take = 0;
      while (take < buckets.length && (take === 0 || total + lens[take]! <= membersMax)) total += lens[take++]!;
      buckets = buckets.slice(0, take);
    }
    const pipe = this.redis.pipeline();
    for (const b of buckets) pipe.hkeys(this.keys.members(keyspace, partition, b));
    const lists = (await pipelineReplies(pipe)) as string[][];
    const check = this.redis.pipeline();
    for (const keys of lists) for (const key of keys) check.hmget(this.keys.record(keyspace, key), 'vv', 't', 'x');
    const now = this.opts.nowMs();
    const states = (await pipelineReplies(check)).map((v) => {
      const [vv, t, x] = v as (string | null)[];
      return vv !== null && t !== '1' && !(x && Number(x) <= now);
    });
    let i = 0;
    return { lists: lists.map((keys) => keys.filter(() => states[i++]!)), members: states.length };
  }

  /**
   * LogSource.read: entries after `afterSeq`, bounded in count and (roughly) bytes. Each is
   * the packed change exactly as the write script logged it: nothing is decoded here.
   */
  async readLog(afterSeq: number, maxRecords: number, maxBytes: number): Promise<LogEntry[]> {
    const entries = await this.redis.xrangeBuffer(this.keys.log, `${afterSeq + 1}-0`, '+', 'COUNT', maxRecords);
    const taken = takeWithin(logEntries(entries), maxRecords, maxBytes);
    if (taken.length > 0) this.opts.onLogRead?.(taken[taken.length - 1]!.seq);
    return taken;
  }

  async bounds(): Promise<{ firstSeq: number; lastSeq: number; length: number }> {
    const [first, length, seq] = await Promise.all([
      this.redis.xrange(this.keys.log, '-', '+', 'COUNT', 1),
      this.redis.xlen(this.keys.log),
      this.redis.get(this.keys.seq),
    ]);
    const lastSeq = Number(seq ?? 0);
    const firstSeq = first[0] ? seqOf(first[0][0]) : lastSeq + 1;
    return { firstSeq, lastSeq, length };
  }

  async trimThrough(seq: number): Promise<void> {
    for (let round = 0; round < 64; round++) {
      const dropped = (await scripts.trimLog.call(this.redis, trimLogKeys(this.keys),
        { throughSeq: seq, entriesMax: TRIM_BATCH_MAX, callerIncarnation: this.incarnationId ?? '', coordinatorToken: this.coordinatorToken() })) as number;
      if (dropped === StoreErrorCode.StoreReset || dropped === StoreErrorCode.NotCoordinator) throw storeError(dropped, 'trim of the replication log');
      if (dropped < TRIM_BATCH_MAX) return;
    }
  }

  /**
   * The log's incarnation: the stored one (created when there is none), or — after
   * `renewIncarnation` — a new one written over it. A call that fails leaves the renewal
   * pending, so the next call (the senders poll it) tries again.
   */
  async incarnation(): Promise<string> {
    if (this.incarnationId) return this.incarnationId;
    const renewal = this.renewals;
    const renewing = renewal !== this.renewed;
    const fresh = randomBytes(8).toString('hex');
    let created = true;
    if (renewing) await this.redis.set(this.keys.incarnation, fresh);
    else created = (await this.redis.set(this.keys.incarnation, fresh, 'NX')) === 'OK';
    if (created) this.createdIncarnation = fresh;
    const id = await this.redis.get(this.keys.incarnation);
    if (!id) throw new Error('incarnation id vanished right after SET');
    if (renewal === this.renewals) {
      this.incarnationId = id;
      this.renewed = renewal;
      // read from Redis just now (the cached one is not recorded); written by this call after a loss
      if (renewing) this.appliedFrontier.ownRenewed(id);
      else this.appliedFrontier.ownIncarnation = id;
    }
    return id;
  }

  /**
   * The log as the store holds it at boot, before any write: its head (last seq), its
   * incarnation (null: none yet), and whether the gateway before this one stopped cleanly
   * with exactly this log (`markCleanStop`). The clean-stop mark is consumed here, in the
   * same transaction: a crash after this boot leaves none behind. `consume` false: read only
   * (several instances per region: the coordinator's takeover consumes it, region-check.ts).
   */
  async bootLogState(consume = true): Promise<{ headSeq: number; incarnation: string | null; cleanStop: boolean }> {
    const tx = this.redis.multi().get(this.keys.seq).get(this.keys.incarnation);
    const res = await (consume ? tx.getdel(this.keys.cleanStop) : tx.get(this.keys.cleanStop)).exec();
    if (!res) throw new Error('boot log state: transaction aborted');
    for (const [err] of res) if (err) throw err;
    const [seq, incarnation, clean] = res.map(([, v]) => v as string | null);
    const headSeq = Number(seq ?? 0);
    return { headSeq, incarnation: incarnation ?? null, cleanStop: incarnation !== null && clean === `${incarnation}|${headSeq}` };
  }

  /**
   * At a clean stop (no more writes): records the log's incarnation and head, so the next
   * boot knows this Redis holds everything the stopped gateway wrote. A Redis that comes
   * back from older data afterwards has a lower head or no mark (it was written after the
   * snapshot, or lost with the last unsynced second).
   */
  async markCleanStop(): Promise<void> {
    const [incarnation, seq] = await this.redis.mget(this.keys.incarnation, this.keys.seq);
    if (incarnation) await this.redis.set(this.keys.cleanStop, `${incarnation}|${Number(seq ?? 0)}`);
  }

  /**
   * At a clean stop of a coordinator (several instances per region): removes its board unless
   * another instance holds the coordinator lease now (withdrawBoard-4.lua). True: withdrawn.
   */
  async withdrawBoard(instanceId: string): Promise<boolean> {
    const k = this.keys;
    return Number(await scripts.withdrawBoard.call(this.redis, {
      board: k.coordinatorBoard, boardParts: k.coordinatorBoardParts, boardChanges: k.coordinatorBoardChanges, coordinator: k.coordinator,
    }, { instanceId })) === 1;
  }

  /** The last incarnation this instance wrote itself (its log is this process's own: no older data under it). */
  incarnationCreatedHere(): string | undefined {
    return this.createdIncarnation;
  }

  private createdIncarnation: string | undefined;

  /**
   * The next `incarnation()` writes a new one (Redis lost or rolled back its data): the
   * peers' cursors of the old one must not apply to the restarted or rewound seqs.
   */
  renewIncarnation(): void {
    this.incarnationId = undefined;
    this.renewals++;
  }

  /**
   * Applies a batch of one origin's log (or, with origin '', versions from anti-entropy):
   * split per partition, the partitions grouped into script calls by who owns their slots
   * (`callGroups`: the whole batch in one call on one Redis). One call raises the region's
   * resume cursor of the origin to the batch's last seq in the same atomic step; several calls
   * are sent together and the cursor is raised (raiseApplied-1) only once every one succeeded.
   * A batch that stops half way is received again from the old cursor; each partition skips
   * what it applied (its own applied seqs).
   */
  async apply(origin: string, incarnation: string, batch: readonly LogEntry[]): Promise<ApplyOutcome[]> {
    if (batch.length === 0) return [];
    if (batch.length > APPLY_BATCH_RECORDS_MAX) throw new RangeError(`apply batch of ${batch.length} > ${APPLY_BATCH_RECORDS_MAX}`);
    const idem = this.opts.idempotency ?? DEFAULT_APPLY_IDEMPOTENCY;
    const codes: number[] = new Array(batch.length);
    const nowMs = this.opts.nowMs();
    let last = 0;
    if (origin !== '') for (const e of batch) if (e.seq > last) last = e.seq;
    const calls = callGroups(groupByPartition(batch), this.slotOwners);
    const raiseInCall = calls.length === 1 ? last : 0;
    const coordinatorToken = this.coordinatorToken();
    const outs = await Promise.allSettled(calls.map((groups) => {
      const call = applyChangesCall(this.keys, groups);
      return scripts.applyChanges.call(this.redis, call.keys,
        { origin, incarnation, nowMs, idempotencyTtlMs: idem.ttlMs, idempotencyEntriesMax: idem.entriesMax, coordinatorToken, groupCount: call.groupCount, raiseToSeq: raiseInCall },
        call.rest, call.items) as Promise<number[] | number>;
    }));
    let refused: number | undefined;
    outs.forEach((o, c) => {
      if (o.status === 'rejected') return;
      const out = o.value;
      if (typeof out === 'number') { refused = out; return; } // not the coordinator: nothing of that call applied
      this.idempotencyUnremembered += out.pop() ?? 0;
      let j = 0;
      for (const g of calls[c]!) for (const i of g.at) codes[i] = out[j++]!;
    });
    const failed = outs.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    if (refused !== undefined) throw storeError(refused, `apply of ${batch.length} changes from ${origin || 'a repair'}`);
    if (origin !== '') {
      if (raiseInCall === 0) await scripts.raiseApplied.call(this.redis, { applied: this.keys.applied }, { field: `${origin}|${incarnation}`, seq: last });
      this.frontier.applied(origin, incarnation, last);
    }
    return codes.map((code) => APPLY_OUTCOMES[code] ?? 'conflict');
  }

  /**
   * Outcomes of peers' writes with an Idempotency-Key that this process applied without
   * remembering them (the region was at `idempotency.entriesMax`). Durable count across
   * restarts in Redis: `<prefix>idemunremembered`.
   */
  idempotencyUnremembered = 0;

  /** What this region applied of each origin's log (shared with the gateway's other store). */
  get frontier(): AppliedFrontier {
    return this.appliedFrontier;
  }

  /**
   * Applies versions that come from anti-entropy or a restore (no log position): each goes
   * through the same version comparison as replication; concurrent ones are left pending
   * for the conflict worker. `seq` of the records is ignored.
   */
  async applyVersions(batch: readonly ChangeRecord[]): Promise<ApplyOutcome[]> {
    return this.apply('', '', batch.map(packEntry));
  }

  async appliedSeq(origin: string, incarnation: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.applied, `${origin}|${incarnation}`)) ?? 0);
  }

  /** Every applied seq this region holds: `origin|incarnation` → seq. */
  async appliedAll(): Promise<Record<string, number>> {
    const all = await this.redis.hgetall(this.keys.applied);
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, Number(v)]));
  }

  /** One TIME round trip on `on` (default: the main connection): a sample for its Redis clock mapping. */
  async sampleClock(on: Lane = this.main): Promise<void> {
    // a client that queues commands while it connects (not the gateway's) answers TIME only
    // after its first 'ready': wait for it, or that first connect looks like a reconnect
    if (on.redis.status !== 'ready') await readyWithin(on.redis, CLOCK_READY_WAIT_MS);
    const t0 = this.monoMs();
    const generation = on.generation;
    on.sampledAtMs = t0;
    const reply = (await guard(on.redis.time())) as unknown as [string, string];
    // a reply from the server before a reconnect says nothing of the one reached now
    if (generation !== on.generation) throw new StoreUnavailableError('the connection to Redis changed while its clock was sampled');
    on.clock.record(t0, redisTimeMs(reply), this.monoMs());
  }

  /** A monotonic deadline on the main connection's Redis clock (sampled first when the mapping is empty). */
  redisDeadline(monoMs: number): Promise<number> {
    return this.toRedisDeadline(monoMs);
  }

  private async toRedisDeadline(monoMs: number, on: Lane = this.main): Promise<number> {
    if (on.clock.offsetMs() === undefined) await this.sampleClock(on);
    else if (this.monoMs() - on.sampledAtMs > REDIS_CLOCK_RESAMPLE_MS) this.sampleClock(on).catch(() => {});
    const mapped = on.clock.toRedisMs(monoMs);
    if (mapped === undefined) throw new StoreUnavailableError('the connection to Redis changed while its clock was sampled');
    return mapped;
  }

  /**
   * Sets the partition's fence: writes with `fenced` need this epoch until the lease's end
   * (`leaseEndMonoMs`, monotonic), stored as an absolute end on Redis's clock (`"epoch:endMs"`).
   * A write delayed behind a stall or replayed carries the same end, so it cannot revive a
   * lease that ended meanwhile; a fence whose end has passed holds nothing (it stays, one per
   * partition, until the next set or drop). Batched with the other fences set
   * or dropped in the same turn of the event loop (fence-writer.ts); resolved once written.
   */
  setFence(keyspace: string, partition: number, epoch: number, leaseEndMonoMs: number): Promise<void> {
    return this.fences.submit({ key: this.keys.fence(keyspace, partition), partition, set: { epoch, leaseEndMonoMs }, token: this.coordinatorToken() });
  }

  /** Removes the partition's fence (ownership moved away): no write of ours lands there any more. */
  dropFence(keyspace: string, partition: number): Promise<void> {
    return this.fences.submit({ key: this.keys.fence(keyspace, partition), partition, set: undefined, token: this.coordinatorToken() });
  }

  /**
   * One batch of fences (FenceWriter): grouped by token and slot, at most FENCES_PER_CALL_MAX
   * a call. The lease ends are mapped onto Redis's clock from one sample (taken first when
   * there is none); a set whose end cannot be mapped is left out (it fails alone), and the
   * removals are written whatever happens to the sets. `issued` once every call is sent.
   */
  private async writeFences(batch: readonly FenceChange[], issued: () => void): Promise<Map<FenceChange, Error>> {
    const failures = new Map<FenceChange, Error>();
    const nowMono = this.monoMs();
    const value = new Map<FenceChange, string>();
    const live = batch.filter((c) => c.set !== undefined && c.set.leaseEndMonoMs > nowMono);
    if (live.length > 0) {
      let sampled: Error | undefined;
      try {
        await this.toRedisDeadline(live[0]!.set!.leaseEndMonoMs); // samples the clock once when it must
      } catch (err) {
        sampled = err as Error;
      }
      for (const c of live) {
        const endMs = sampled ? undefined : this.main.clock.toRedisMs(c.set!.leaseEndMonoMs);
        if (endMs === undefined) failures.set(c, sampled ?? new StoreUnavailableError('the connection to Redis changed while its clock was sampled'));
        else value.set(c, `${c.set!.epoch}:${endMs}`);
      }
    }
    // an ended lease's fence is removed; a set that could not be mapped is not written
    const writable = batch.filter((c) => !failures.has(c));
    const byToken = new Map<string, FenceChange[]>();
    for (const c of writable) {
      const g = byToken.get(c.token);
      if (g) g.push(c);
      else byToken.set(c.token, [c]);
    }
    const calls: Promise<void>[] = [];
    for (const [token, changes] of byToken) {
      for (const group of callGroups(changes, this.slotOwners)) {
        for (let i = 0; i < group.length; i += FENCES_PER_CALL_MAX) {
          const chunk = group.slice(i, i + FENCES_PER_CALL_MAX);
          calls.push((scripts.setFences.call(this.redis, { coordinator: this.keys.coordinator }, { coordinatorToken: token }, chunk.map((c) => value.get(c) ?? ''), chunk.map((c) => c.key)) as Promise<number>)
            .then((res) => { if (res < 0) throw storeError(res, `fences of ${chunk.length} partitions`); })
            .catch((err: unknown) => { for (const c of chunk) failures.set(c, err as Error); }));
        }
      }
    }
    issued();
    await Promise.all(calls);
    return failures;
  }

  /** Records a partition's owner as the witness said it (`owners` hash), under the coordinator token. */
  async writeOwner(ownersKey: string, field: string, value: string): Promise<void> {
    await this.coordinatorWrite(ownersKey, 'hset', field, value);
  }

  /**
   * Writes the coordinator's board (lua/publishBoard-4.lua): the changed head fields and
   * partition entries (value '' removes one) since `expectedVersion` under `boardId`, or every
   * entry when `expectedVersion` is 0; renews its end. The board's version and the head's
   * publication count, or null when the board is not the one expected (publish it whole).
   */
  async publishBoard(p: BoardPublication): Promise<{ version: number; publication: number } | null> {
    const res = (await scripts.publishBoard.call(this.redis,
      { board: this.keys.coordinatorBoard, boardParts: this.keys.coordinatorBoardParts, boardChanges: this.keys.coordinatorBoardChanges, coordinator: this.keys.coordinator },
      { coordinatorToken: this.coordinatorToken(), validMs: p.validMs, boardId: p.boardId, expectedVersion: p.expectedVersion, headCount: p.head.size, partCount: p.parts.size,
        changesMax: p.changesMax, changeFieldsMax: p.changeFieldsMax, expectedPublication: p.expectedPublication }, [...[...p.head].flat(), ...[...p.parts].flat()])) as number | [number, number];
    if (res === BOARD_NOT_EXPECTED) return null;
    if (typeof res === 'number') throw storeError(res, 'the coordinator board');
    return { version: Number(res[0]), publication: Number(res[1]) };
  }

  /**
   * One atomic read of the coordinator's board: Redis's clock (ms), the log's incarnation,
   * the head, and of the partitions' entries what changed since (`boardId`, `version`).
   */
  async readBoard(boardId: string, version: number, fieldsMax: number): Promise<BoardRead> {
    const res = (await scripts.readBoard.call(this.redis,
      { board: this.keys.coordinatorBoard, boardParts: this.keys.coordinatorBoardParts, boardChanges: this.keys.coordinatorBoardChanges, incarnation: this.keys.incarnation },
      { boardId, version, fieldsMax })) as [string, string, string | null, string[], string, ...unknown[]];
    const head = fieldPairs(res[3] ?? []);
    // Redis's clock to the µs: floored to the ms it could read up to 1 ms before the reader's send time
    const base = { redisNowMs: Number(res[0]) * 1000 + Number(res[1]) / 1000, incarnation: res[2] ?? null, head };
    const mode = res[4];
    if (mode === 'diff') {
      const names = (res[5] ?? []) as string[];
      const values = (res[6] ?? []) as (string | null)[];
      return { ...base, entries: { mode: 'diff', fields: new Map(names.map((n, i) => [n, values[i] ?? null] as const)) } };
    }
    if (mode === 'whole') return { ...base, entries: { mode: 'whole', fields: fieldPairs((res[5] ?? []) as string[]) } };
    return { ...base, entries: { mode: mode === 'same' ? 'same' : 'none' } };
  }

  /** The token coordinator actions carry now ('' with one instance per region). */
  coordinatorToken(): string {
    return this.opts.coordinatorToken?.() ?? '';
  }

  private async coordinatorWrite(target: string, op: 'hset', value: string, extra: string | number): Promise<void> {
    const res = (await scripts.coordinatorWrite.call(this.redis, { target, coordinator: this.keys.coordinator },
      { coordinatorToken: this.coordinatorToken(), op, value, extra })) as number;
    if (res < 0) throw storeError(res, `${op} of ${target}`);
  }

  /** Bucket digests of one partition (bucket → 16 hex digits). */
  async digests(keyspace: string, partition: number): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.digest(keyspace, partition));
  }

  async ping(): Promise<number> {
    const t0 = performance.now();
    await guard(this.redis.ping());
    return performance.now() - t0;
  }
}

/**
 * One connection the store writes on, with the mapping of lease ends onto the clock of the
 * server it reaches. Every (re)connect may reach another server (a Sentinel failover, a
 * restarted Redis) whose clock may be behind the old one's: the mapping is dropped and
 * sampled afresh before a fence or a fenced write maps a deadline on it.
 */
interface Lane {
  readonly redis: Redis;
  readonly clock: RedisClock;
  /** Counts the connection's (re)connects: a TIME sample belongs to the one it was taken on. */
  generation: number;
  sampledAtMs: number;
  /** Writes running on it now. */
  inFlight: number;
}

const CLOCK_READY_WAIT_MS = 1000;

/** Resolves on the connection's next 'ready' or after `ms`, whichever comes first. */
function readyWithin(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); redis.off('ready', done); resolve(); };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

type ReplayReply = [2, Buffer, number, Buffer, number, Buffer, Buffer];

/** putRecord's answer to a retry (`{ 2, version, seq, hlc, created, tomb, epoch }`). */
function replayedResult([, version, seq, hlc, created, tomb, epoch]: ReplayReply): WriteResult {
  return {
    created: created === 1, version: version.toString(), seq, hlc: hlc.toString(), packed: Buffer.alloc(0),
    replayed: { tombstone: tomb.toString() === '1', epoch: Number(epoch.toString()) },
  };
}

function lane(redis: Redis): Lane {
  defineScripts(redis);
  const l: Lane = { redis, clock: new RedisClock(), generation: 0, sampledAtMs: Number.NEGATIVE_INFINITY, inFlight: 0 };
  redis.on('ready', () => {
    l.generation++;
    l.clock.reset();
    l.sampledAtMs = Number.NEGATIVE_INFINITY;
  });
  return l;
}

/**
 * Turns a failure to reach Redis (connection down, timeout, loading, read-only) into
 * StoreUnavailableError (503). A script error is a programmer error and stays as it is.
 */
/** The replies of a pipeline in order; a failed command fails the whole read like a store error. */
async function pipelineReplies(pipe: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  return ((await guard(pipe.exec())) ?? []).map(([err, v]) => {
    if (err) throw new StoreUnavailableError(`redis: ${err.message}`);
    return v;
  });
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const e = err as Error;
    const transient = e.name !== 'ReplyError' || /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|OOM|NOSCRIPT)/.test(e.message);
    if (transient) throw new StoreUnavailableError(e.message);
    throw err;
  }
}

/**
 * Like `guard`, for a write: a command that was sent and then failed without a reply (a
 * timeout, the connection closed under it) may have run, so it is WriteOutcomeUnknownError,
 * never a clean failure. A command never sent (connection not ready) is StoreUnavailable.
 */
async function guardWrite<T>(p: Promise<T>): Promise<T> {
  try {
    return await guard(p);
  } catch (err) {
    if (err instanceof StoreUnavailableError && !/enableOfflineQueue|isn't writeable|LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|OOM|NOSCRIPT/.test(err.message)) {
      throw new WriteOutcomeUnknownError(err.message);
    }
    throw err;
  }
}

/** The one field name of a log entry's packed change ('r'). */
const R_FIELD = 0x72;

/** Stream entries as log entries, decoded one at a time as they are taken. */
function* logEntries(entries: [Buffer, Buffer[]][]): Generator<LogEntry> {
  for (const [id, fields] of entries) {
    const packed = fields[0]?.length === 1 && fields[0][0] === R_FIELD ? fields[1] : undefined;
    if (!packed) throw new Error(`replication log entry ${id.toString()} has no packed change (field "r")`);
    yield { seq: seqOf(id.toString()), bytes: packed };
  }
}
const APPLY_OUTCOMES: Record<number, ApplyOutcome> = { 0: 'duplicate', 1: 'applied', 2: 'dominated', 3: 'conflict' };


function seqOf(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

function decodeRecord(raw: (Buffer | null)[]): StoredRecord {
  const s = (i: number) => raw[i]?.toString() ?? '';
  const version = s(2);
  return {
    value: raw[0] ?? Buffer.alloc(0),
    contentType: s(1),
    vv: vvFromString(version) ?? {},
    version,
    hlc: hlcFromString(s(3)) ?? [0, 0],
    origin: s(4),
    epoch: Number(s(5) || 0),
    tombstone: s(6) === '1',
    partition: Number(s(7) || 0),
    bucket: Number(s(8) || 0),
    ...(s(9) !== '' && { expiresAtMs: Number(s(9)) }),
  };
}
