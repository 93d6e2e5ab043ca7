/**
 * Offers pending versions to their resolving region again. A region that may not resolve a
 * partition keeps its pending versions until the resolution arrives; if the resolving region
 * lost its copy meanwhile (its Redis wiped or rolled back before it resolved, then rebuilt
 * from peers' current versions), the pending copy here is the only one left. So a version
 * pending for REOFFER_AFTER_MS is appended to this region's log again, as it is, and again
 * after each further period while it stays pending (in Redis: values are not read here).
 * The resolving region drops what it holds already. docs/conflicts.md, "Re-offer".
 */
import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.js';
import type { KeyspaceConfig } from '../config.js';
import type { WriteAuthority } from '../authority.js';
import type { ConflictStore } from '../store/index.js';

export const REOFFER_AFTER_MS = 10_000;
/** Keys whose pending versions are offered again in one round, at most. */
export const REOFFER_KEYS_PER_ROUND_MAX = 256;
/** Partitions whose pending counts are asked in one round trip. */
export const PARTITIONS_PER_QUERY_MAX = 512;

export interface PendingReofferDeps {
  readonly conflicts: ConflictStore;
  readonly keyspaces: ReadonlyMap<string, KeyspaceConfig>;
  readonly authority: WriteAuthority;
  readonly clock: Clock;
  readonly log: Logger;
  /** A version was appended to the log at `seq`. */
  onLocalWrite(seq: number): void;
}

/** The partitions this region may resolve now (`may`), or those it may not. */
export function partitionsWhere(keyspaces: ReadonlyMap<string, KeyspaceConfig>, authority: WriteAuthority, may: boolean): { ks: KeyspaceConfig; partition: number }[] {
  const out: { ks: KeyspaceConfig; partition: number }[] = [];
  for (const ks of keyspaces.values()) {
    for (let partition = 0; partition < ks.partitions; partition++) {
      if (authority.mayResolve(ks, partition) === may) out.push({ ks, partition });
    }
  }
  return out;
}

export class PendingReoffer {
  private lastRunMonoMs = Number.NEGATIVE_INFINITY;
  private readonly cursors = new Map<string, string>();

  constructor(private readonly deps: PendingReofferDeps, private readonly afterMs = REOFFER_AFTER_MS) {}

  /**
   * At most once per `afterMs`: one page of keys per partition this region may not resolve,
   * at most REOFFER_KEYS_PER_ROUND_MAX keys. Returns the number of versions offered.
   */
  async maybeRun(): Promise<number> {
    const now = this.deps.clock.monoMs();
    if (now - this.lastRunMonoMs < this.afterMs) return 0;
    this.lastRunMonoMs = now;
    const parts = partitionsWhere(this.deps.keyspaces, this.deps.authority, false);
    let keysSeen = 0;
    let offered = 0;
    for (let i = 0; i < parts.length && keysSeen < REOFFER_KEYS_PER_ROUND_MAX; i += PARTITIONS_PER_QUERY_MAX) {
      const chunk = parts.slice(i, i + PARTITIONS_PER_QUERY_MAX);
      const counts = await this.deps.conflicts.pendingPerPartition(chunk.map(({ ks, partition }) => ({ keyspace: ks.name, partition })));
      for (const [j, { ks, partition }] of chunk.entries()) {
        if (counts[j] === 0 || keysSeen >= REOFFER_KEYS_PER_ROUND_MAX) continue;
        const id = `${ks.name}/${partition}`;
        const [next, keys] = await this.deps.conflicts.scanPendingPartition(ks.name, partition, this.cursors.get(id) ?? '0');
        if (next === '0') this.cursors.delete(id); else this.cursors.set(id, next);
        for (const key of keys) {
          if (keysSeen >= REOFFER_KEYS_PER_ROUND_MAX) break; // the rest of the page: when the scan comes round again
          keysSeen++;
          const seqs = await this.deps.conflicts.reofferPending(ks.name, key, this.afterMs);
          for (const seq of seqs) this.deps.onLocalWrite(seq);
          offered += seqs.length;
        }
      }
    }
    if (offered > 0) this.deps.log.info({ offered }, 'pending versions waiting for their resolving region offered to it again');
    return offered;
  }
}
