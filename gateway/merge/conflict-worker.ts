/**
 * Resolves the conflicts the apply script left pending. Resolution runs only at the
 * partition's active region (so exactly one region writes the resolution and journals it);
 * other regions keep the pair pending until the resolution arrives through replication and
 * dominates it, and never read pending versions of partitions they may not resolve (each
 * partition has its own pending index). Bounded work per round; kicked after an apply that
 * found conflicts and swept periodically (so pending pairs survive a restart).
 *
 * lww is decided by the writes' own stamps: a resolution carries its winner's write stamp
 * (conflict/resolve.ts), so the order in which pending versions are resolved does not matter.
 * On a fenced partition the resolution checks the store's fence like a write; without a
 * valid fence it is refused and retried later.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { classify, compareHlc, hlcToString, resolve, vvToString, type RecordVersion, type TriggerRegistry } from '../../conflict/index.js';
import type { Clock } from '../../infra/clock.js';
import { WorkerLoop } from './loop.js';
import type { KeyspaceConfig } from '../config.js';
import type { WriteAuthority } from '../authority.js';
import { evictionsCounter } from '../metrics.js';
import type { ConflictStore, PendingVersion, RegionStore, StoredRecord } from '../store/index.js';
import { JOURNAL_VALUE_ENCODING } from '../store/conflict-store.js';
import { PARTITIONS_PER_QUERY_MAX, PendingReoffer, partitionsWhere } from './pending-reoffer.js';

export const DEFAULT_SWEEP_MS = 1000;
export const KEYS_PER_ROUND_MAX = 512;

export interface ConflictWorkerDeps {
  readonly region: string;
  readonly store: RegionStore;
  readonly conflicts: ConflictStore;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly authority: WriteAuthority;
  readonly triggers?: TriggerRegistry | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  /** `limits.valueBytesMax`: a merged value above it is resolved by lww instead (conflict/resolve.ts). */
  readonly valueBytesMax: number;
  /** A resolution was appended to the log at `seq`. */
  onLocalWrite(seq: number): void;
}

type Fence = { epoch: number; leaseEndRedisMs?: number | undefined } | undefined;

export class ConflictWorker {
  private readonly resolved: Counter<'keyspace' | 'type' | 'resolver'>;
  private readonly refused: Counter<'keyspace' | 'reason'>;
  private readonly evicted: Counter<'stream'>;
  private readonly loop: WorkerLoop;
  /** Scan cursors per partition ("ks/p"), carried over rounds. */
  private readonly cursors = new Map<string, string>();
  private indexed = false;
  private readonly reoffer: PendingReoffer;

  constructor(private readonly deps: ConflictWorkerDeps, sweepMs = DEFAULT_SWEEP_MS) {
    this.resolved = new Counter({
      name: 'geogate_conflicts_resolved_total', help: 'Conflicts resolved here (the active region), by type and rule',
      labelNames: ['keyspace', 'type', 'resolver'], registers: [deps.registry],
    });
    this.refused = new Counter({
      name: 'geogate_conflict_resolutions_refused_total', help: 'Resolutions not written (retried later): fenced, or the record changed meanwhile',
      labelNames: ['keyspace', 'reason'], registers: [deps.registry],
    });
    this.evicted = evictionsCounter(deps.registry);
    this.loop = new WorkerLoop(deps.clock, sweepMs, () => this.round());
    this.reoffer = new PendingReoffer(deps);
  }

  start(): void {
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  /** Something was left pending: resolve soon. */
  kick(): void {
    this.loop.kick();
  }

  private async round(): Promise<void> {
    try {
      await this.drainOnce();
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'conflict resolution round failed; retrying');
    }
  }

  /**
   * One bounded pass (at most KEYS_PER_ROUND_MAX keys) over the pending indexes of the
   * partitions this region may resolve now; others are not read at all. Scan cursors carry
   * over to the next round. Returns the number of conflicts resolved.
   */
  async drainOnce(): Promise<number> {
    if (!this.indexed) {
      const n = await this.deps.conflicts.indexPendingByPartition();
      if (n > 0) this.deps.log.info({ keys: n }, 'pending conflicts of an older gateway indexed per partition');
      this.indexed = true;
    }
    if ((await this.deps.conflicts.pendingCount()) === 0) return 0;
    await this.reoffer.maybeRun();
    const parts = partitionsWhere(this.deps.keyspaces, this.deps.authority, true);
    let seen = 0;
    let resolvedCount = 0;
    for (let i = 0; i < parts.length; i += PARTITIONS_PER_QUERY_MAX) {
      const chunk = parts.slice(i, i + PARTITIONS_PER_QUERY_MAX);
      const counts = await this.deps.conflicts.pendingPerPartition(chunk.map(({ ks, partition }) => ({ keyspace: ks.name, partition })));
      for (const [j, { ks, partition }] of chunk.entries()) {
        if (counts[j] === 0) continue;
        const id = `${ks.name}/${partition}`;
        let cursor = this.cursors.get(id) ?? '0';
        do {
          const [next, keys] = await this.deps.conflicts.scanPendingPartition(ks.name, partition, cursor);
          cursor = next;
          for (const key of keys) {
            seen++;
            resolvedCount += await this.resolveKey(ks, partition, key);
          }
          if (seen >= KEYS_PER_ROUND_MAX && cursor !== '0') { this.cursors.set(id, cursor); this.loop.kick(); return resolvedCount; }
        } while (cursor !== '0');
        this.cursors.delete(id);
      }
    }
    return resolvedCount;
  }

  private async resolveKey(ks: KeyspaceConfig, partition: number, key: string): Promise<number> {
    const pending = await this.deps.conflicts.pendingFor(ks.name, key);
    if (pending.length === 0) { await this.deps.conflicts.dropPending(ks.name, key, partition, ''); return 0; }
    let count = 0;
    for (const p of pending) {
      if (!this.deps.authority.mayResolve(ks, p.partition)) continue;
      const current = await this.deps.store.get(ks.name, key);
      if (!current) {
        // the record is gone (its tombstone was collected): the pending version simply applies
        await this.deps.store.applyVersions([{ seq: 0, keyspace: ks.name, key, partition: p.partition, bucket: p.bucket, record: p.record }]);
        continue;
      }
      const fence = await this.fenceFor(ks, p.partition);
      if (fence === null) { this.refused.inc({ keyspace: ks.name, reason: 'no-lease' }); continue; }
      if (await this.resolveOne(ks, key, current, p, fence)) count++;
    }
    return count;
  }

  /**
   * The fence a write on this partition would check now (undefined: the partition's writes
   * are not fenced), or null when this region holds no write authority for it at the moment.
   */
  private async fenceFor(ks: KeyspaceConfig, partition: number): Promise<Fence | null> {
    if (ks.onSplit !== 'fence') return undefined;
    const a = this.deps.authority.check(ks, partition);
    if (a.kind !== 'local') return null;
    if (!a.fenced) return undefined;
    if (a.leaseEndMonoMs === undefined) return { epoch: a.epoch };
    // (the mapping is dropped at every reconnect: redisDeadline samples again, never undefined)
    return { epoch: a.epoch, leaseEndRedisMs: await this.deps.store.redisDeadline(a.leaseEndMonoMs) };
  }

  private async resolveOne(ks: KeyspaceConfig, key: string, current: StoredRecord, p: PendingVersion, fence: Fence): Promise<boolean> {
    // Fence keyspaces: of two concurrent writes, one made under an older ownership epoch comes
    // from a superseded owner (the witness granted the newer epoch later). The pair's own
    // newest epoch is the reference, not this region's view of the current epoch: after a
    // failback the current epoch is newer than both, and the pair must still be told apart.
    const fenceEpoch = ks.onSplit === 'fence' ? Math.max(current.epoch, p.record.epoch) : undefined;
    const c = classify(current, p.record, fenceEpoch === undefined ? {} : { fenceEpoch });
    if (c.action !== 'resolve') {
      // no longer concurrent: the record moved past it (it is in the record's history)
      if (c.action === 'drop') await this.deps.conflicts.dropPending(ks.name, key, p.partition, p.version);
      return false;
    }
    const r = resolve({
      current, incoming: p.record, resolver: ks.resolver, triggers: this.deps.triggers,
      ctx: {
        keyspace: ks.name, key, partition: p.partition, region: this.deps.region, activeRegion: this.deps.region,
        ...(fenceEpoch === undefined ? {} : { fenceEpoch }), valueBytesMax: this.deps.valueBytesMax,
      },
    });
    const floor = compareHlc(current.hlc, p.record.hlc) >= 0 ? current.hlc : p.record.hlc;
    const journal: Record<string, string | Buffer> = r.journal ? {
      conflictId: r.conflictId, type: r.type, resolver: r.resolver, configured: r.configured, winner: r.winner,
      keyspace: ks.name, key, partition: String(p.partition), region: this.deps.region, at: String(this.deps.clock.nowMs()),
      valueEncoding: JOURNAL_VALUE_ENCODING, ...side('current', current), ...side('incoming', p.record),
      ...(r.note ? { note: r.note } : {}), ...(r.error ? { triggerError: JSON.stringify(r.error) } : {}),
    } : {};
    const res = await this.deps.conflicts.writeResolution({
      keyspace: ks.name, key, partition: p.partition, bucket: current.bucket,
      expectedVersion: current.version, incomingVersion: p.version, resolved: r.version,
      hlcFloor: hlcToString(floor), fence, journal, actions: r.actions.map((a) => JSON.stringify(a)),
    });
    if (!res.written) {
      this.refused.inc({ keyspace: ks.name, reason: res.reason });
      if (res.reason === 'fenced') this.deps.log.warn({ keyspace: ks.name, key, partition: p.partition, epoch: fence?.epoch }, 'resolution refused by the store\'s fence (lease ended or moved); retried later');
      return false;
    }
    this.countEvictions(res.journalEvicted, res.outboxEvicted);
    this.resolved.inc({ keyspace: ks.name, type: r.type, resolver: r.resolver });
    this.deps.log.info({ keyspace: ks.name, key, partition: p.partition, type: r.type, resolver: r.resolver, winner: r.winner,
      current: current.version, incoming: p.version }, 'conflict resolved');
    this.deps.onLocalWrite(res.seq);
    return true;
  }

  private countEvictions(journal: number, outbox: number): void {
    if (journal > 0) {
      this.evicted.inc({ stream: 'journal' }, journal);
      this.deps.log.warn({ evicted: journal }, 'conflict journal full: oldest entries dropped before a consumer acknowledged them (POST /v1/conflicts/ack)');
    }
    if (outbox > 0) {
      this.evicted.inc({ stream: 'outbox' }, outbox);
      this.deps.log.error({ evicted: outbox }, 'compensation outbox full: oldest undelivered actions dropped');
    }
  }
}

/** Both sides go into the journal in full (raw bytes; the journal is bounded in bytes, served base64). */
function side(name: string, v: RecordVersion & { version?: string }): Record<string, string | Buffer> {
  const value = Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength);
  return {
    [`${name}Version`]: vvToString(v.vv),
    [`${name}Origin`]: v.origin,
    [`${name}Hlc`]: hlcToString(v.hlc),
    [`${name}Epoch`]: String(v.epoch),
    [`${name}Tombstone`]: v.tombstone ? '1' : '0',
    [`${name}ContentType`]: v.contentType,
    [`${name}Value`]: value,
    [`${name}ValueBytes`]: String(value.byteLength),
    // the side's absolute expiry (docs/expiry.md), when it had one
    ...(v.expiresAtMs !== undefined && { [`${name}ExpiresAtMs`]: String(v.expiresAtMs) }),
  };
}
