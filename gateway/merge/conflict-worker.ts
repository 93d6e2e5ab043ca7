/**
 * Resolves the conflicts the apply script left pending. Resolution runs only at the
 * partition's active region (so exactly one region writes the resolution and journals it);
 * other regions keep the pair pending until the resolution arrives through replication and
 * dominates it. Bounded work per round; kicked after an apply that found conflicts and swept
 * periodically (so pending pairs survive a restart).
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { classify, compareHlc, hlcToString, resolve, vvToString, type RecordVersion, type TriggerRegistry } from '../../conflict/index.js';
import type { Clock } from '../../infra/clock.js';
import { WorkerLoop } from './loop.js';
import type { KeyspaceConfig } from '../config.js';
import type { WriteAuthority } from '../authority.js';
import type { ConflictStore, PendingVersion, RegionStore, StoredRecord } from '../store/index.js';

export const DEFAULT_SWEEP_MS = 1000;
export const KEYS_PER_ROUND_MAX = 512;
export const JOURNAL_VALUE_BYTES_MAX = 64 * 1024;

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
  /** A resolution was appended to the log at `seq`. */
  onLocalWrite(seq: number): void;
}

export class ConflictWorker {
  private readonly resolved: Counter<'keyspace' | 'type' | 'resolver'>;
  private readonly loop: WorkerLoop;
  private cursor = '0';

  constructor(private readonly deps: ConflictWorkerDeps, sweepMs = DEFAULT_SWEEP_MS) {
    this.resolved = new Counter({
      name: 'geogate_conflicts_resolved_total', help: 'Conflicts resolved here (the active region), by type and rule',
      labelNames: ['keyspace', 'type', 'resolver'], registers: [deps.registry],
    });
    this.loop = new WorkerLoop(deps.clock, sweepMs, () => this.round());
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
   * One bounded pass over the pending index (at most KEYS_PER_ROUND_MAX keys). The scan
   * cursor carries over to the next round, so keys this region may not resolve never starve
   * the ones after them. Returns the number of conflicts resolved.
   */
  async drainOnce(): Promise<number> {
    let seen = 0;
    let resolvedCount = 0;
    do {
      const [next, keys] = await this.deps.conflicts.scanPending(this.cursor);
      this.cursor = next;
      for (const { keyspace, key } of keys) {
        seen++;
        resolvedCount += await this.resolveKey(keyspace, key);
      }
      if (seen >= KEYS_PER_ROUND_MAX && this.cursor !== '0') { this.loop.kick(); return resolvedCount; }
    } while (this.cursor !== '0');
    return resolvedCount;
  }

  private async resolveKey(keyspace: string, key: string): Promise<number> {
    const ks = this.deps.keyspaces.get(keyspace);
    if (!ks) return 0;
    const pending = await this.deps.conflicts.pendingFor(keyspace, key);
    let count = 0;
    for (const p of pending) {
      if (!this.deps.authority.mayResolve(ks, p.partition)) continue;
      const current = await this.deps.store.get(keyspace, key);
      if (!current) {
        // the record is gone (its tombstone was collected): the pending version simply applies
        await this.deps.store.applyVersions([{ seq: 0, keyspace, key, partition: p.partition, bucket: p.bucket, record: p.record }]);
        continue;
      }
      if (await this.resolveOne(ks, key, current, p)) count++;
    }
    return count;
  }

  private async resolveOne(ks: KeyspaceConfig, key: string, current: StoredRecord, p: PendingVersion): Promise<boolean> {
    // Fence keyspaces: of two concurrent writes, one made under an older ownership epoch comes
    // from a superseded owner (the witness granted the newer epoch later). The pair's own
    // newest epoch is the reference, not this region's view of the current epoch: after a
    // failback the current epoch is newer than both, and the pair must still be told apart.
    const fenceEpoch = ks.onSplit === 'fence' ? Math.max(current.epoch, p.record.epoch) : undefined;
    const c = classify(current, p.record, fenceEpoch === undefined ? {} : { fenceEpoch });
    if (c.action !== 'resolve') {
      // no longer concurrent: the record moved past it (it is in the record's history)
      if (c.action === 'drop') await this.deps.conflicts.dropPending(ks.name, key, p.version);
      return false;
    }
    const r = resolve({
      current, incoming: p.record, resolver: ks.resolver, triggers: this.deps.triggers,
      ctx: {
        keyspace: ks.name, key, partition: p.partition, region: this.deps.region, activeRegion: this.deps.region,
        ...(fenceEpoch === undefined ? {} : { fenceEpoch }),
      },
    });
    const floor = compareHlc(current.hlc, p.record.hlc) >= 0 ? current.hlc : p.record.hlc;
    const journal: Record<string, string | Buffer> = r.journal ? {
      conflictId: r.conflictId, type: r.type, resolver: r.resolver, configured: r.configured, winner: r.winner,
      keyspace: ks.name, key, partition: String(p.partition), region: this.deps.region, at: String(this.deps.clock.nowMs()),
      ...side('current', current), ...side('incoming', p.record),
      ...(r.note ? { note: r.note } : {}), ...(r.error ? { triggerError: JSON.stringify(r.error) } : {}),
    } : {};
    const res = await this.deps.conflicts.writeResolution({
      keyspace: ks.name, key, partition: p.partition, bucket: current.bucket,
      expectedVersion: current.version, incomingVersion: p.version, resolved: r.version,
      hlcFloor: hlcToString(floor), journal, actions: r.actions.map((a) => JSON.stringify(a)),
    });
    if (!res.written) return false;
    this.resolved.inc({ keyspace: ks.name, type: r.type, resolver: r.resolver });
    this.deps.log.info({ keyspace: ks.name, key, partition: p.partition, type: r.type, resolver: r.resolver, winner: r.winner,
      current: current.version, incoming: p.version }, 'conflict resolved');
    if (res.seq !== undefined) this.deps.onLocalWrite(res.seq);
    return true;
  }
}

/** Both sides go into the journal in full (values up to JOURNAL_VALUE_BYTES_MAX, base64). */
function side(name: string, v: RecordVersion & { version?: string }): Record<string, string> {
  const value = Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength);
  const keep = value.byteLength <= JOURNAL_VALUE_BYTES_MAX;
  return {
    [`${name}Version`]: vvToString(v.vv),
    [`${name}Origin`]: v.origin,
    [`${name}Hlc`]: hlcToString(v.hlc),
    [`${name}Epoch`]: String(v.epoch),
    [`${name}Tombstone`]: v.tombstone ? '1' : '0',
    [`${name}ContentType`]: v.contentType,
    [`${name}Value`]: keep ? value.toString('base64') : '',
    [`${name}ValueBytes`]: String(value.byteLength),
  };
}
