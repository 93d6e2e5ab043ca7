/**
 * What only the coordinator knows, for the region's other instances, through the board in
 * the region's Redis (lua/publishBoard-4.lua, lua/readBoard-4.lua): each partition's write
 * authority as its witness agent judges it (owner, epoch, state), each peer's acknowledged seq
 * of the region's log (sync-replica waits) and the coordinator's seq floor (the other
 * instances' floor after a rollback), both as `<incarnation>:<seq>`.
 *
 * Its cost does not grow with the partitions while nothing changes: a lease renewal moves
 * every lease end, but the partitions renewed in one witness round share one end (the round's
 * send time + leaseMs - drift), so the head carries that end once (`l`) and a partition's entry
 * only says "the round's end" (`lr`); a partition's entry changes when its authority does
 * (owner, epoch, state, a lease not renewed with the others: then its own end, `l`). The
 * coordinator publishes what changed every `publishMs` and renews the board's end; another
 * instance reads every `refreshMs` the head and only the entries changed since the version it
 * holds (the whole board when it fell behind the changes list or the board was published
 * whole), in one atomic script, and trusts an entry only until the board's end and, for a
 * lease, the lease's end, both mapped onto its own monotonic clock from the read's send time
 * (conservative). The store's fence stays the final word on a fenced write.
 */
import { randomBytes } from 'node:crypto';
import type { Authority, WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';
import type { BoardRead, RegionStore } from '../store/index.js';
import type { Clock, TimerHandle } from '../../infra/clock.js';
import type { WriteGuard } from '../http/context.js';
import type { Logger } from 'pino';

export const BOARD_PUBLISH_MS = 20;
export const BOARD_REFRESH_MS = 20;
/** The board is trusted this long past its last renewal (a few publish rounds). */
export const BOARD_VALID_MS = 250;
/** Sync-replica waits through the board at once on one instance; more answer as a timeout. */
export const BOARD_ACK_WAITERS_MAX = 4096;
/** How long an instance that is not the coordinator tells a client to wait when it knows nothing of a partition yet. */
export const BOARD_RETRY_AFTER_MS = 200;
/** Versions of the partitions' entries the changes list keeps (a reader further behind reads the whole board). */
export const BOARD_CHANGES_MAX = 64;
/** A version that changes more entries than this is listed as a whole publication. */
export const BOARD_CHANGE_FIELDS_MAX = 512;
/** A reader fetches at most this many changed entries by name; more: the whole board. */
export const BOARD_READ_FIELDS_MAX = 1024;
/**
 * Lease ends within this of the latest one count as that round's (the renewal of every
 * partition in one witness round gives one end, up to float noise); the round's end
 * published is the earliest of them, so no partition's end is published later than it is.
 */
export const BOARD_ROUND_SLACK_MS = 5;

/** A partition's entry: the coordinator's Authority, the lease end on Redis's clock. */
export interface BoardEntry {
  readonly a: Authority['kind'];
  readonly e?: number;
  readonly f?: 1;
  /** Lease end on Redis's clock (fenced writes), when it is not the round's. */
  readonly l?: number;
  /** The lease ends at the head's round end (`l` of the head). */
  readonly lr?: 1;
  readonly r?: string;
  readonly w?: number;
  readonly why?: string;
  /** Active region, partition state. */
  readonly o?: string;
  readonly s: string;
}

const partitionField = (ks: string, p: number) => `p:${ks}:${p}`;
const ackField = (peer: string) => `a:${peer}`;
/** The coordinator's seq floor of the region's log: `<incarnation>:<seq>` (see BoardReader). */
const SHIPPED_FIELD = 'h';
/** '1' once the coordinator's rollback check of the region's store ended (its writes open), '0' before. */
const CHECKED_FIELD = 'c';
/** The coordinator's version-vector counter floor, `<floor>:<wall ms of its raise>` (RegionStore.counterFloorState). */
const FLOOR_FIELD = 'f';
/** The lease end of the last renewal round, on Redis's clock (ms): the head's `l`. */
const ROUND_END_FIELD = 'l';

/** Parses `<incarnation>:<seq>`; null when malformed. */

/** `<floor>:<atMs>` as the publisher writes it; undefined for anything else. */
function parseFloor(v: string | undefined): { floor: number; atMs: number } | undefined {
  if (v === undefined) return undefined;
  const [f, at] = v.split(':');
  const floor = Number(f);
  const atMs = Number(at);
  return Number.isSafeInteger(floor) && floor > 0 && Number.isFinite(atMs) ? { floor, atMs } : undefined;
}

export function parseIncarnationSeq(v: string | undefined): { incarnation: string; seq: number } | null {
  if (!v) return null;
  const cut = v.lastIndexOf(':');
  const seq = Number(v.slice(cut + 1));
  return cut > 0 && Number.isSafeInteger(seq) && seq >= 0 ? { incarnation: v.slice(0, cut), seq } : null;
}

/**
 * Every partition's entry as the coordinator judges it, encoded (one string per partition of
 * `keyspaces`, in order; `fields` names them), with the round's lease end on Redis's clock
 * (`redisOffsetMs` = Redis's clock − ours). The round is the most common lease end (to the
 * ms): the partitions whose end lies within BOARD_ROUND_SLACK_MS of it say `lr`, and the
 * round's end is the earliest of theirs, so no lease is published later than it ends; any
 * other lease (renewed in another round, or missed the last) carries its own end. Runs every
 * publication round over every partition: no allocation per partition beyond its string.
 */
export class BoardEncoder {
  readonly fields: readonly string[];
  private readonly judged: Authority[];
  private readonly buckets = new Map<number, number>();
  /** Per partition, what its last entry said and the entry (built again only when that changed). */
  private readonly kinds: Uint8Array;
  private readonly nums: Float64Array;
  private readonly epochs: Float64Array;
  private readonly texts: (string | undefined)[];
  private readonly os: (string | undefined)[];
  private readonly ss: (string | undefined)[];
  private readonly built: (string | undefined)[];

  constructor(private readonly keyspaces: readonly KeyspaceConfig[], private readonly auth: WriteAuthority) {
    const fields: string[] = [];
    for (const ks of keyspaces) for (let p = 0; p < ks.partitions; p++) fields.push(partitionField(ks.name, p));
    this.fields = fields;
    const n = fields.length;
    this.judged = new Array<Authority>(n);
    this.kinds = new Uint8Array(n);
    this.nums = new Float64Array(n);
    this.epochs = new Float64Array(n);
    this.texts = new Array<string | undefined>(n);
    this.os = new Array<string | undefined>(n);
    this.ss = new Array<string | undefined>(n);
    this.built = new Array<string | undefined>(n);
  }

  encode(nowMs: number, redisOffsetMs: number, out: string[]): { roundEndRedisMs: number | null } {
    const { judged, buckets, auth } = this;
    buckets.clear();
    let i = 0;
    let best = Number.NaN;
    let bestCount = 0;
    for (const ks of this.keyspaces) {
      for (let p = 0; p < ks.partitions; p++, i++) {
        const a = auth.check(ks, p);
        judged[i] = a;
        if (a.kind === 'local' && a.fenced && a.leaseEndMonoMs !== undefined && a.leaseEndMonoMs > nowMs) {
          const b = Math.floor(a.leaseEndMonoMs);
          const n = (buckets.get(b) ?? 0) + 1;
          buckets.set(b, n);
          if (n > bestCount) { bestCount = n; best = b; }
        }
      }
    }
    // the round: ends within the slack of the most common ms; its end the earliest of them
    let roundEnd = Number.POSITIVE_INFINITY;
    const lo = best - BOARD_ROUND_SLACK_MS;
    const hi = best + 1 + BOARD_ROUND_SLACK_MS;
    if (bestCount > 0) {
      for (i = 0; i < judged.length; i++) {
        const a = judged[i]!;
        if (a.kind === 'local' && a.fenced && a.leaseEndMonoMs !== undefined && a.leaseEndMonoMs >= lo && a.leaseEndMonoMs < hi && a.leaseEndMonoMs > nowMs && a.leaseEndMonoMs < roundEnd) roundEnd = a.leaseEndMonoMs;
      }
    }
    i = 0;
    const { kinds, nums, epochs, texts, os, ss, built } = this;
    for (const ks of this.keyspaces) {
      for (let p = 0; p < ks.partitions; p++, i++) {
        const a = judged[i]!;
        const o = auth.activeRegion(ks, p);
        const st = auth.partitionState(ks, p);
        // what the entry says, compared with the last round's: the string is built only when it changed
        let kind: number;
        let num = 0;
        let text: string | undefined;
        let epoch = 0;
        if (a.kind === 'local') {
          epoch = a.epoch;
          if (!a.fenced) kind = 0;
          else {
            const end = a.leaseEndMonoMs ?? nowMs;
            if (end >= roundEnd && end < hi && end > nowMs) kind = 1;
            else { kind = 2; num = Math.floor(end + redisOffsetMs); }
          }
        } else if (a.kind === 'redirect') { kind = 3; text = a.region; } else { kind = 4; num = a.retryAfterMs; text = a.reason; }
        const cached = built[i];
        if (cached !== undefined && kinds[i] === kind && nums[i] === num && epochs[i] === epoch && texts[i] === text && os[i] === o && ss[i] === st) { out[i] = cached; continue; }
        const tail = `${o === undefined ? '' : `"o":${JSON.stringify(o)},`}"s":${JSON.stringify(st)}}`;
        const entry = kind === 0 ? `{"a":"local","e":${epoch},${tail}`
          : kind === 1 ? `{"a":"local","e":${epoch},"f":1,"lr":1,${tail}`
            : kind === 2 ? `{"a":"local","e":${epoch},"f":1,"l":${num},${tail}`
              : kind === 3 ? `{"a":"redirect","r":${JSON.stringify(text)},${tail}`
                : `{"a":"unavailable","w":${num},"why":${JSON.stringify(text)},${tail}`;
        kinds[i] = kind; nums[i] = num; epochs[i] = epoch; texts[i] = text; os[i] = o; ss[i] = st; built[i] = entry;
        out[i] = entry;
      }
    }
    judged.fill(undefined as unknown as Authority); // hold no authority past the round
    return { roundEndRedisMs: Number.isFinite(roundEnd) ? Math.floor(roundEnd + redisOffsetMs) : null };
  }
}

/** BoardEncoder.encode as a map field → entry (tests, tools). */
export function boardEntries(keyspaces: readonly KeyspaceConfig[], auth: WriteAuthority, nowMs: number, redisOffsetMs: number): { parts: Map<string, string>; roundEndRedisMs: number | null } {
  const enc = new BoardEncoder(keyspaces, auth);
  const out: string[] = [];
  const { roundEndRedisMs } = enc.encode(nowMs, redisOffsetMs, out);
  return { parts: new Map(enc.fields.map((f, i) => [f, out[i]!] as const)), roundEndRedisMs };
}

/** The fields of `next` that differ from `prev`, and '' for each field of `prev` that `next` lacks. */
export function changedFields(prev: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): Map<string, string> {
  const changed = new Map<string, string>();
  for (const [k, v] of next) if (prev.get(k) !== v) changed.set(k, v);
  for (const k of prev.keys()) if (!next.has(k)) changed.set(k, '');
  return changed;
}

export interface BoardSource {
  readonly keyspaces: readonly KeyspaceConfig[];
  readonly authority: WriteAuthority;
  /** Each peer's acked seq of our log (null: unknown). */
  acked(): ReadonlyMap<string, number | null>;
  /**
   * The highest seq of the region's log the coordinator handed out or its senders read (and
   * may have shipped), with the log's incarnation; null while unknown.
   */
  shipped?(): { incarnation: string; seq: number } | null;
  /**
   * The coordinator's writes are open: its rollback check of the region's store ended
   * (rollback-guard.ts; region-check.ts) and its bootstrap gate opened (a store that started
   * empty was rebuilt from the peers). The other instances' writes wait for this.
   */
  regionChecked?(): boolean;
  /** The coordinator's counter floor (raised above all when it handled a loss of the store). */
  counterFloor?(): { floor: number; atMs: number };
}

/** What the reader needs of the store (RegionStore). */
export type BoardReaderStore = Pick<RegionStore, 'readBoard' | 'noteSeqSeen' | 'adoptCounterFloor'>;

/** What the publisher needs of the store (RegionStore). */
export type BoardStore = Pick<RegionStore, 'publishBoard' | 'redisDeadline'>;

/** The coordinator's side: publishes what changed, renews the board's end. */
export class BoardPublisher {
  private readonly encoder: BoardEncoder;
  /** What Redis holds as this publisher wrote it last (version 0: publish whole next). */
  private values: string[] = [];
  private head = new Map<string, string>();
  private boardId = '';
  private version = 0;
  /** Publications under boardId as the head counts them (`_p`): a head-only one lost by Redis is seen. */
  private publication = 0;
  private timer: TimerHandle | null = null;
  private running = false;

  constructor(private readonly store: BoardStore, private readonly source: BoardSource, private readonly clock: Clock, private readonly log: Logger, private readonly publishMs = BOARD_PUBLISH_MS) {
    this.encoder = new BoardEncoder(source.keyspaces, source.authority);
  }

  start(): void {
    this.running = true;
    void this.round();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
  }

  /** One publication (the timer's round; tests call it directly). */
  async publishOnce(): Promise<void> {
    try {
      const { head, values } = await this.snapshot();
      // the changes since what we wrote last; when the board is not that one (another
      // coordinator wrote it, Redis lost or rolled back writes, a publication of the head
      // only included: its count `_p`) the whole board at once
      if (this.version > 0 && await this.publish(head, values, false)) return;
      this.version = 0;
      if (!await this.publish(head, values, true)) this.log.info('coordinator board not published whole (not the coordinator?)');
    } catch (err) {
      this.version = 0; // publish everything again next round
      this.log.debug({ err: (err as Error).message }, 'coordinator board not published this round');
    }
  }

  private async publish(head: Map<string, string>, values: string[], whole: boolean): Promise<boolean> {
    if (whole) this.boardId = randomBytes(8).toString('hex');
    const fields = this.encoder.fields;
    const parts = new Map<string, string>();
    for (let i = 0; i < fields.length; i++) if (whole || this.values[i] !== values[i]) parts.set(fields[i]!, values[i]!);
    const v = await this.store.publishBoard({
      boardId: this.boardId, expectedVersion: whole ? 0 : this.version, expectedPublication: whole ? 0 : this.publication,
      head: whole ? head : changedFields(this.head, head), parts,
      validMs: BOARD_VALID_MS, changesMax: BOARD_CHANGES_MAX, changeFieldsMax: BOARD_CHANGE_FIELDS_MAX,
    });
    if (v === null) return false;
    this.version = v.version;
    this.publication = v.publication;
    this.head = head;
    this.values = values;
    return true;
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    await this.publishOnce();
    if (this.running) this.timer = this.clock.setTimer(this.publishMs, () => void this.round());
  }

  private async snapshot(): Promise<{ head: Map<string, string>; values: string[] }> {
    const now = this.clock.monoMs();
    const redisOffsetMs = (await this.store.redisDeadline(now)) - now;
    const values: string[] = new Array<string>(this.encoder.fields.length);
    const { roundEndRedisMs } = this.encoder.encode(now, redisOffsetMs, values);
    const head = new Map<string, string>();
    if (roundEndRedisMs !== null) head.set(ROUND_END_FIELD, String(roundEndRedisMs));
    // acks carry the log's incarnation: a reader counts them only for the incarnation Redis
    // holds (after a log reset an old incarnation's higher ack must release no new write)
    const shipped = this.source.shipped?.();
    for (const [peer, seq] of this.source.acked()) if (seq !== null && shipped) head.set(ackField(peer), `${shipped.incarnation}:${seq}`);
    if (shipped) head.set(SHIPPED_FIELD, `${shipped.incarnation}:${shipped.seq}`);
    // the floor before the word that writes are open: a reader takes both from one read
    const floor = this.source.counterFloor?.();
    if (floor) head.set(FLOOR_FIELD, `${floor.floor}:${floor.atMs}`);
    if (this.source.regionChecked) head.set(CHECKED_FIELD, this.source.regionChecked() ? '1' : '0');
    return { head, values };
  }
}

/** Another instance's side: the board read every `refreshMs`, an authority and ack waits from it. */
export class BoardReader implements WriteAuthority {
  private entries = new Map<string, BoardEntry>();
  private acks = new Map<string, { incarnation: string; seq: number }>();
  /** The log's incarnation in Redis at the last read (null: none, or not read yet). */
  private incarnation: string | null = null;
  /** The coordinator's seq floor as last published (`<incarnation>:<seq>`). */
  private shipped: { incarnation: string; seq: number } | null = null;
  /** The coordinator's word that its rollback check of the store ended (as last read). */
  private checked = false;
  /** The board's id and the version of the entries held ('' and 0: none). */
  private boardId = '';
  private version = 0;
  /** The board's end, and the lease end of the last renewal round (null: none), on Redis's clock, from the last read. */
  private endRedisMs = 0;
  private roundEndRedisMs: number | null = null;
  /** Redis's clock minus our monotonic clock at the last read (from its send time: conservative). */
  private redisOffsetMs = 0;
  private timer: TimerHandle | null = null;
  private running = false;
  private readonly waiters = new Set<{ peer: string; seq: number; incarnation: string | null; resolve: (ok: boolean) => void; timer: TimerHandle }>();

  /**
   * `paused`: no read while it says so (this instance is the coordinator: its own role answers
   * for authority, acks and its writes' gate, and the board says only what it published). What
   * was read before stays trusted only until its board's end, like a reader whose reads fail;
   * the first round after the pause reads again.
   */
  constructor(private readonly store: BoardReaderStore, private readonly clock: Clock, private readonly log: Logger, private readonly refreshMs = BOARD_REFRESH_MS,
    private readonly paused: () => boolean = () => false) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.round();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    for (const w of this.waiters) { w.timer.cancel(); w.resolve(false); }
    this.waiters.clear();
  }

  /** One read (the timer's round; tests call it directly). */
  async readOnce(): Promise<void> {
    const sentMs = this.clock.monoMs();
    try {
      const b = await this.store.readBoard(this.boardId, this.version, BOARD_READ_FIELDS_MAX);
      this.load(b, sentMs);
      // The store's seq floor is per process, and only the coordinator's senders read the
      // log: what they shipped is a floor for this instance's writes too, or after Redis came
      // back with older data this instance handed those seqs out again for other content
      // under the same incarnation (the peers skip them as duplicates). Kept in memory: it is
      // Redis that rolled back. Only for the log incarnation Redis holds now (a new one
      // starts its seqs over).
      if (this.shipped && b.incarnation !== null && this.shipped.incarnation === b.incarnation) this.store.noteSeqSeen(this.shipped.seq);
      this.settleWaiters();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'coordinator board not read this round');
    }
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    if (!this.paused()) await this.readOnce();
    if (this.running) this.timer = this.clock.setTimer(this.refreshMs, () => void this.round());
  }

  /** Takes one read: the head whole, the entries whole, changed, or as they were. */
  private load(b: BoardRead, sentMs: number): void {
    // Redis's clock at the read is at least its TIME reply at our send time: conservative
    this.redisOffsetMs = b.redisNowMs - sentMs;
    this.incarnation = b.incarnation;
    const head = b.head;
    const end = Number(head._end);
    this.endRedisMs = Number.isFinite(end) ? end : 0;
    const round = Number(head[ROUND_END_FIELD]);
    this.roundEndRedisMs = head[ROUND_END_FIELD] !== undefined && Number.isFinite(round) ? round : null;
    this.shipped = parseIncarnationSeq(head[SHIPPED_FIELD]);
    // The counter floor is per process: after the coordinator handled a loss of the store
    // (counters raised above all) this instance's writes must not come out dominated by the
    // versions the store lost, so the floor is taken before the word that writes are open
    // (same read, same tick: no write of this instance runs in between).
    const floor = parseFloor(head[FLOOR_FIELD]);
    if (floor) this.store.adoptCounterFloor(floor.floor, floor.atMs);
    this.checked = head[CHECKED_FIELD] === '1';
    const acks = new Map<string, { incarnation: string; seq: number }>();
    for (const [k, v] of Object.entries(head)) if (k.startsWith('a:')) { const a = parseIncarnationSeq(v); if (a) acks.set(k.slice(2), a); }
    this.acks = acks;
    const parse = (v: string): BoardEntry | undefined => { try { return JSON.parse(v) as BoardEntry; } catch { return undefined; /* a malformed entry is no authority */ } };
    const e = b.entries;
    if (e.mode === 'none') {
      this.entries = new Map();
      this.boardId = '';
      this.version = 0;
      return;
    }
    if (e.mode === 'whole') {
      const entries = new Map<string, BoardEntry>();
      for (const [k, v] of Object.entries(e.fields)) { const x = parse(v); if (x && k.startsWith('p:')) entries.set(k, x); }
      this.entries = entries;
    } else if (e.mode === 'diff') {
      for (const [k, v] of e.fields) {
        const x = v === null ? undefined : parse(v);
        if (x) this.entries.set(k, x); else this.entries.delete(k);
      }
    }
    this.boardId = head._id ?? '';
    this.version = Number(head._v ?? 0) || 0;
  }

  /** Our monotonic clock's reading of a Redis-clock instant, by the last read. */
  private toMono(redisMs: number): number {
    return redisMs - this.redisOffsetMs;
  }

  private entry(keyspace: string, p: number): BoardEntry | undefined {
    if (this.clock.monoMs() >= this.toMono(this.endRedisMs)) return undefined;
    return this.entries.get(partitionField(keyspace, p));
  }

  check(ks: KeyspaceConfig, p: number): Authority {
    return this.checkByName(ks.name, p);
  }

  /** A live board (renewed within BOARD_VALID_MS) says the coordinator's rollback check of the region's store ended. */
  regionChecked(): boolean {
    return this.checked && this.clock.monoMs() < this.toMono(this.endRedisMs);
  }

  private checkByName(ks: string, p: number): Authority {
    const e = this.entry(ks, p);
    if (!e) return { kind: 'unavailable', retryAfterMs: BOARD_RETRY_AFTER_MS, code: 'no_write_authority', reason: `this instance has no current word from the region's coordinator on ${ks}/${p} (being elected, or its board is stale)` };
    if (e.a === 'redirect') return { kind: 'redirect', region: e.r ?? '' };
    if (e.a === 'unavailable') return { kind: 'unavailable', retryAfterMs: e.w ?? BOARD_RETRY_AFTER_MS, reason: e.why ?? 'unavailable' };
    if (!e.f) return { kind: 'local', epoch: e.e ?? 0, fenced: false };
    // its own end, or its renewal round's (none published: ended)
    const endRedisMs = e.lr ? this.roundEndRedisMs : e.l;
    const leaseEndMonoMs = typeof endRedisMs === 'number' && Number.isFinite(endRedisMs) ? this.toMono(endRedisMs) : Number.NEGATIVE_INFINITY;
    if (leaseEndMonoMs <= this.clock.monoMs()) return { kind: 'unavailable', retryAfterMs: BOARD_RETRY_AFTER_MS, code: 'no_write_authority', reason: `the region's lease on ${ks}/${p} ended (as the coordinator last said)` };
    return { kind: 'local', epoch: e.e ?? 0, fenced: true, leaseEndMonoMs };
  }

  activeRegion(ks: KeyspaceConfig, p: number): string | undefined {
    return this.entries.get(partitionField(ks.name, p))?.o;
  }

  partitionState(ks: KeyspaceConfig, p: number): string {
    return this.entry(ks.name, p)?.s ?? 'unknown';
  }

  mayResolve(): boolean {
    return false; // only the coordinator resolves
  }

  currentEpoch(ks: KeyspaceConfig, p: number): number | undefined {
    return this.entries.get(partitionField(ks.name, p))?.e;
  }

  /** The post-reply lease check of a fenced write made on this instance. */
  readonly writeGuard: WriteGuard = {
    begin: () => () => {},
    stillHolds: (ks, p, epoch) => {
      const a = this.checkByName(ks, p);
      return a.kind === 'local' && a.epoch === epoch && (a.leaseEndMonoMs ?? Number.POSITIVE_INFINITY) > this.clock.monoMs();
    },
  };

  /** Resolves true once the board says `peer` acked our log through `seq`; false at the timeout. */
  waitForAck(peer: string, seq: number, timeoutMs: number): Promise<boolean> {
    // the write's seq belongs to the incarnation Redis held at the last read or a later one:
    // an ack counts only while Redis still holds the one the wait began under (conservative:
    // a write under a newer one than read waits for its timeout)
    const incarnation = this.incarnation;
    if (this.acked(peer, incarnation) >= seq) return Promise.resolve(true);
    if (this.waiters.size >= BOARD_ACK_WAITERS_MAX || !this.running) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = { peer, seq, incarnation, resolve, timer: this.clock.setTimer(timeoutMs, () => { this.waiters.delete(w); resolve(false); }) };
      this.waiters.add(w);
    });
  }

  /** `peer`'s acked seq of the log at `incarnation`, 0 unless Redis holds that incarnation now. */
  private acked(peer: string, incarnation: string | null): number {
    const a = this.acks.get(peer);
    return a && incarnation !== null && a.incarnation === incarnation && this.incarnation === incarnation ? a.seq : 0;
  }

  private settleWaiters(): void {
    for (const w of this.waiters) {
      if (this.acked(w.peer, w.incarnation) >= w.seq) { this.waiters.delete(w); w.timer.cancel(); w.resolve(true); }
    }
  }
}
