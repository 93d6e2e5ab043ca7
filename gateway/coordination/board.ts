/**
 * What only the coordinator knows, for the region's other instances, through one Redis hash
 * (lua/publishBoard-2.lua): each partition's write authority as its witness agent judges it
 * (owner, epoch, lease end on Redis's clock), each peer's acknowledged seq of the region's
 * log (sync-replica waits) and the coordinator's seq floor (the other instances' floor after
 * a rollback), both as `<incarnation>:<seq>`. The coordinator publishes what changed every
 * `publishMs` and renews the board's end; another instance reads it every `refreshMs` (the
 * whole hash only when its version moved) and trusts an entry only until the board's end
 * and, for a lease, the lease's end, both mapped onto its own monotonic clock from the read's
 * send time (conservative). The store's fence stays the final word on a fenced write.
 */
import type { Authority, WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';
import type { RegionStore } from '../store/index.js';
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

/** A partition's entry: the coordinator's Authority, with the lease end on Redis's clock. */
interface BoardEntry {
  readonly a: Authority['kind'];
  readonly e?: number;
  readonly f?: 1;
  /** Lease end on Redis's clock (fenced writes). */
  readonly l?: number;
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

/** Parses `<incarnation>:<seq>`; null when malformed. */
export function parseIncarnationSeq(v: string | undefined): { incarnation: string; seq: number } | null {
  if (!v) return null;
  const cut = v.lastIndexOf(':');
  const seq = Number(v.slice(cut + 1));
  return cut > 0 && Number.isSafeInteger(seq) && seq >= 0 ? { incarnation: v.slice(0, cut), seq } : null;
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
}

/** The coordinator's side: publishes what changed, renews the board's end. */
export class BoardPublisher {
  private readonly published = new Map<string, string>();
  private timer: TimerHandle | null = null;
  private running = false;

  constructor(private readonly store: RegionStore, private readonly source: BoardSource, private readonly clock: Clock, private readonly log: Logger, private readonly publishMs = BOARD_PUBLISH_MS) {}

  start(): void {
    this.running = true;
    void this.round();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    try {
      const changed = await this.changes();
      await this.store.publishBoard(changed, BOARD_VALID_MS);
      for (const [k, v] of changed) { if (v === '') this.published.delete(k); else this.published.set(k, v); }
    } catch (err) {
      this.published.clear(); // publish everything again next round
      this.log.debug({ err: (err as Error).message }, 'coordinator board not published this round');
    }
    if (this.running) this.timer = this.clock.setTimer(this.publishMs, () => void this.round());
  }

  private async changes(): Promise<Map<string, string>> {
    const now = this.clock.monoMs();
    const redisOffsetMs = (await this.store.redisDeadline(now)) - now;
    const changed = new Map<string, string>();
    const put = (field: string, value: string) => { if (this.published.get(field) !== value) changed.set(field, value); };
    const auth = this.source.authority;
    for (const ks of this.source.keyspaces) {
      for (let p = 0; p < ks.partitions; p++) {
        const a = auth.check(ks, p);
        const base = { o: auth.activeRegion(ks, p), s: auth.partitionState(ks, p) };
        let entry: BoardEntry;
        if (a.kind === 'local') {
          entry = { a: 'local', e: a.epoch, ...base, ...(a.fenced ? { f: 1 as const, l: Math.floor((a.leaseEndMonoMs ?? now) + redisOffsetMs) } : {}) };
        } else if (a.kind === 'redirect') entry = { a: 'redirect', r: a.region, ...base };
        else entry = { a: 'unavailable', w: a.retryAfterMs, why: a.reason, ...base };
        // a renewed lease moves its end by the renewal interval: published at that pace
        put(partitionField(ks.name, p), JSON.stringify(entry));
      }
    }
    // acks carry the log's incarnation: a reader counts them only for the incarnation Redis
    // holds (after a log reset an old incarnation's higher ack must release no new write)
    const shipped = this.source.shipped?.();
    for (const [peer, seq] of this.source.acked()) put(ackField(peer), seq === null || !shipped ? '' : `${shipped.incarnation}:${seq}`);
    if (shipped) put(SHIPPED_FIELD, `${shipped.incarnation}:${shipped.seq}`);
    return changed;
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
  private version = 0;
  /** The board's end and Redis's clock minus our monotonic clock, from the last read. */
  private endMonoMs = 0;
  private redisOffsetMs = 0;
  private timer: TimerHandle | null = null;
  private running = false;
  private readonly waiters = new Set<{ peer: string; seq: number; incarnation: string | null; resolve: (ok: boolean) => void; timer: TimerHandle }>();

  constructor(private readonly store: RegionStore, private readonly clock: Clock, private readonly log: Logger, private readonly refreshMs = BOARD_REFRESH_MS) {}

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

  private async round(): Promise<void> {
    if (!this.running) return;
    const sentMs = this.clock.monoMs();
    try {
      const b = await this.store.readBoard(this.version);
      // Redis's clock at the read is at least its TIME reply at our send time: conservative
      this.redisOffsetMs = b.redisNowMs - sentMs;
      this.endMonoMs = b.endMs - this.redisOffsetMs;
      this.incarnation = b.incarnation;
      if (b.fields) this.load(b.fields, b.version);
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
    if (this.running) this.timer = this.clock.setTimer(this.refreshMs, () => void this.round());
  }

  private load(fields: Record<string, string>, version: number): void {
    const entries = new Map<string, BoardEntry>();
    const acks = new Map<string, { incarnation: string; seq: number }>();
    this.shipped = parseIncarnationSeq(fields[SHIPPED_FIELD]);
    for (const [k, v] of Object.entries(fields)) {
      if (k.startsWith('p:')) { try { entries.set(k, JSON.parse(v) as BoardEntry); } catch { /* a malformed entry is no authority */ } } else if (k.startsWith('a:')) { const a = parseIncarnationSeq(v); if (a) acks.set(k.slice(2), a); }
    }
    this.entries = entries;
    this.acks = acks;
    this.version = version;
  }

  private entry(keyspace: string, p: number): BoardEntry | undefined {
    if (this.clock.monoMs() >= this.endMonoMs) return undefined;
    return this.entries.get(partitionField(keyspace, p));
  }

  check(ks: KeyspaceConfig, p: number): Authority {
    return this.checkByName(ks.name, p);
  }

  private checkByName(ks: string, p: number): Authority {
    const e = this.entry(ks, p);
    if (!e) return { kind: 'unavailable', retryAfterMs: BOARD_RETRY_AFTER_MS, code: 'no_write_authority', reason: `this instance has no current word from the region's coordinator on ${ks}/${p} (being elected, or its board is stale)` };
    if (e.a === 'redirect') return { kind: 'redirect', region: e.r ?? '' };
    if (e.a === 'unavailable') return { kind: 'unavailable', retryAfterMs: e.w ?? BOARD_RETRY_AFTER_MS, reason: e.why ?? 'unavailable' };
    if (!e.f) return { kind: 'local', epoch: e.e ?? 0, fenced: false };
    const leaseEndMonoMs = (e.l ?? 0) - this.redisOffsetMs;
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
