/**
 * The expiry sweep: turns expired records into tombstones through the normal write path, so
 * every region ends holding the same tombstone (docs/expiry.md). Reads do not wait for it:
 * a version is absent from its absolute expiry on (RegionStore `isReadable`).
 *
 * Which region sweeps a record: the one that may resolve the record's partition now
 * (`WriteAuthority.mayResolve`: the partition's active region, with a witness only while it
 * holds its lease), and only while it may also write there (`check` is local). At most one
 * region at a time, the same rule that makes conflict resolution deterministic.
 *
 * Each tombstone is the write script's `sweep`: conditional on the expired version exactly
 * (a re-PUT that revived the key meanwhile wins, nothing is written), through the fence, the
 * store identity and seq checks of any write, logged and replicated; its stamp is the
 * expiry's own (putRecord-12.lua), so under lww a write made after the expiry at a region
 * that had not seen the tombstone wins against it. At most `recordsMax` records per round,
 * partitions taken in turn from where the last round stopped.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../infra/clock.js';
import type { WriteAuthority } from './authority.js';
import type { KeyspaceConfig } from './config.js';
import type { PartitionMap } from './partition-map.js';
import type { WriteGuard } from './http/context.js';
import { WorkerLoop } from './merge/loop.js';
import { StoreError, StoreErrorCode, type RegionStore } from './store/index.js';
import { expiryAllowed } from './http/expiry.js';

/** Partitions one round looks at, at most (one index read each). */
export const SWEEP_PARTITIONS_PER_ROUND_MAX = 4096;

export interface ExpirySweepDeps {
  readonly store: RegionStore;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly maps: ReadonlyMap<string, PartitionMap>;
  readonly authority: WriteAuthority;
  readonly writeGuard?: WriteGuard | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  /** A tombstone was appended to the log at `seq` (wakes the senders). */
  readonly onLocalWrite: (seq: number, packed: Buffer) => void;
  /** False while the region may take no writes at all (its store bootstraps). */
  readonly writable: () => boolean;
  readonly intervalMs: number;
  readonly recordsMax: number;
}

export interface SweepStats {
  /** Tombstones written. */
  readonly tombstoned: number;
  /** Expired entries looked at (written, or found revived / changed / not ours now). */
  readonly examined: number;
}

export class ExpirySweeper {
  private readonly loop: WorkerLoop;
  private readonly written: Counter<'keyspace'>;
  /** Where the next round starts: an index into `partitions()`. */
  private next = 0;

  constructor(private readonly deps: ExpirySweepDeps) {
    this.written = new Counter({
      name: 'geogate_expiry_tombstones_total', help: 'Tombstones of expired records written by this region\'s sweep', labelNames: ['keyspace'], registers: [deps.registry],
    });
    this.loop = new WorkerLoop(deps.clock, deps.intervalMs, () => this.sweepOnce().then(() => undefined, (err: Error) => {
      deps.log.warn({ err: err.message }, 'expiry sweep failed (store down?); retrying next interval');
    }));
  }

  start(): void { this.loop.start(); }
  stop(): void { this.loop.stop(); }

  /** One round: at most `recordsMax` expired records examined, across the partitions this region sweeps. */
  async sweepOnce(): Promise<SweepStats> {
    if (!this.deps.writable()) return { tombstoned: 0, examined: 0 };
    const parts = this.partitions();
    let budget = this.deps.recordsMax;
    let tombstoned = 0;
    let examined = 0;
    const looked = Math.min(parts.length, SWEEP_PARTITIONS_PER_ROUND_MAX);
    for (let i = 0; i < looked && budget > 0; i++) {
      const at = (this.next + i) % parts.length;
      const { ks, partition } = parts[at]!;
      if (!this.deps.authority.mayResolve(ks, partition)) continue;
      const keys = await this.deps.store.expiredKeys(ks.name, partition, this.deps.clock.nowMs(), budget);
      for (const key of keys) {
        budget--;
        examined++;
        if (await this.sweepKey(ks, partition, key)) tombstoned++;
      }
      if (budget === 0) this.next = keys.length > 0 ? at : (at + 1) % parts.length;
    }
    if (budget > 0) this.next = (this.next + looked) % Math.max(1, parts.length);
    return { tombstoned, examined };
  }

  /** Every (keyspace, partition) whose keyspace takes expiry, in a fixed order. */
  private partitions(): { ks: KeyspaceConfig; partition: number }[] {
    const out: { ks: KeyspaceConfig; partition: number }[] = [];
    for (const ks of this.deps.keyspaces.values()) if (expiryAllowed(ks)) for (let p = 0; p < ks.partitions; p++) out.push({ ks, partition: p });
    return out;
  }

  /** The tombstone of one expired record; false when it was revived, changed, or the region may not write it now. */
  private async sweepKey(ks: KeyspaceConfig, partition: number, key: string): Promise<boolean> {
    const auth = this.deps.authority.check(ks, partition);
    if (auth.kind !== 'local') return false;
    const rec = await this.deps.store.get(ks.name, key);
    const placement = this.deps.maps.get(ks.name)!.place(key);
    const ended = this.deps.writeGuard?.begin(ks.name, partition);
    try {
      const res = await this.deps.store.write({
        keyspace: ks.name, key, partition, bucket: placement.bucket, value: new Uint8Array(0), contentType: '', tombstone: true,
        // no version: the script only makes the key's index entry its record's own
        ifMatch: rec?.version ?? '', epoch: auth.epoch, fenced: auth.fenced, leaseEndMonoMs: auth.leaseEndMonoMs, op: 'sweep',
      });
      this.deps.onLocalWrite(res.seq, res.packed);
      this.written.inc({ keyspace: ks.name });
      return true;
    } catch (err) {
      if (err instanceof StoreError && (err.code === StoreErrorCode.IfMatchFailed || err.code === StoreErrorCode.Fenced)) return false;
      throw err;
    } finally {
      ended?.();
    }
  }
}
