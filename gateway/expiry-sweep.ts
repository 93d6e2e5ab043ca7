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
 * that had not seen the tombstone wins against it. At most `recordsMax` records and the
 * indexes of `partitionsMax` partitions (read together: one round trip) per round, partitions
 * taken in turn from where the last round stopped: an idle region costs `partitionsMax` index
 * reads per interval however many partitions it has, and an expired record's tombstone is
 * written within (partitions / partitionsMax) intervals (reads answer 404 from the expiry on).
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
  /** Partitions whose index one round reads, at most (`expiry.sweepPartitionsMax`). */
  readonly partitionsMax: number;
}

export interface SweepStats {
  /** Tombstones written. */
  readonly tombstoned: number;
  /** Expired entries looked at (written, or found revived / changed / not ours now). */
  readonly examined: number;
}

interface SweepPartition {
  readonly ks: KeyspaceConfig;
  readonly partition: number;
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

  /** One round: at most `recordsMax` expired records examined, in at most `partitionsMax` partitions this region sweeps. */
  async sweepOnce(): Promise<SweepStats> {
    if (!this.deps.writable()) return { tombstoned: 0, examined: 0 };
    const parts = this.partitions();
    if (parts.length === 0) return { tombstoned: 0, examined: 0 };
    const start = this.next % parts.length;
    const chosen = this.choose(parts, start);
    this.next = (start + chosen.scanned) % parts.length;
    let budget = this.deps.recordsMax;
    let tombstoned = 0;
    let examined = 0;
    const found = await this.readIndexes(chosen.picked, budget);
    for (let i = 0; i < chosen.picked.length && budget > 0; i++) {
      const { ks, partition, at } = chosen.picked[i]!;
      const keys = found[i]!.slice(0, budget);
      for (const key of keys) {
        budget--;
        examined++;
        if (await this.sweepKey(ks, partition, key)) tombstoned++;
      }
      // out of budget with this partition's keys (or later partitions' ones) left: start there next time
      if (budget === 0 && (keys.length < found[i]!.length || found.slice(i + 1).some((k) => k.length > 0))) {
        this.next = keys.length < found[i]!.length ? at : chosen.picked[i + 1]!.at;
      }
    }
    return { tombstoned, examined };
  }

  /** From `start` on, the first `partitionsMax` partitions this region resolves now (one lap at most) and how many were passed. */
  private choose(parts: readonly SweepPartition[], start: number): { picked: (SweepPartition & { at: number })[]; scanned: number } {
    const picked: (SweepPartition & { at: number })[] = [];
    let scanned = 0;
    while (scanned < parts.length && picked.length < this.deps.partitionsMax) {
      const at = (start + scanned) % parts.length;
      const part = parts[at]!;
      scanned++;
      if (this.deps.authority.mayResolve(part.ks, part.partition)) picked.push({ ...part, at });
    }
    return { picked, scanned };
  }

  /** The expired keys of each picked partition (at most `limit` each), the reads sent together per keyspace. */
  private async readIndexes(picked: readonly SweepPartition[], limit: number): Promise<string[][]> {
    const now = this.deps.clock.nowMs();
    const out: string[][] = new Array<string[]>(picked.length);
    const byKeyspace = new Map<string, number[]>();
    picked.forEach((p, i) => byKeyspace.set(p.ks.name, [...(byKeyspace.get(p.ks.name) ?? []), i]));
    await Promise.all([...byKeyspace].map(async ([name, idx]) => {
      const keys = await this.deps.store.expiredKeysOf(name, idx.map((i) => picked[i]!.partition), now, limit);
      idx.forEach((i, j) => { out[i] = keys[j]!; });
    }));
    return out;
  }

  /** Every (keyspace, partition) whose keyspace takes expiry, in a fixed order. */
  private partitions(): SweepPartition[] {
    const out: SweepPartition[] = [];
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
