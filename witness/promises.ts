import type { ConfirmItem, ConfirmVerdict, RefusalReason } from './protocol.js';
import { partitionKey } from './topology.js';

/** "Owner O at epoch e confirmed until `untilMs`" (the voter's own monotonic clock). */
export interface VoterPromise {
  readonly owner: string;
  readonly epoch: number;
  readonly untilMs: number;
}

/** What a voter currently believes about a partition's owner. */
export interface KnownOwner {
  readonly owner: string;
  readonly epoch: number;
}

/**
 * The promise half of a voter, shared by the witness and every region: a voter that
 * confirms owner O for p promises not to confirm anyone else for p until its own
 * `receivedAt + leaseMs`. Promises live in memory only: a restarted voter is quiet for
 * `bootQuietMs` instead. One entry per partition, so the table is bounded by the topology.
 */
export class PromiseTable {
  private readonly promises = new Map<string, VoterPromise>();

  constructor(
    private readonly leaseMs: number,
    private readonly bootMonoMs: number,
    private readonly bootQuietMs: number,
  ) {}

  quietRemainingMs(nowMs: number): number {
    return Math.max(0, this.bootMonoMs + this.bootQuietMs - nowMs);
  }

  get(key: string): VoterPromise | undefined {
    return this.promises.get(key);
  }

  /** The live promise made to someone other than `owner`, if any. */
  blockingFor(key: string, owner: string, nowMs: number): VoterPromise | undefined {
    const p = this.promises.get(key);
    return p && p.owner !== owner && p.untilMs > nowMs ? p : undefined;
  }

  /**
   * Votes on `from`'s claim `item` given what this voter knows. Returns the verdict; on
   * success the promise is (re)made. `known` must already include anything learnt from `item`.
   */
  vote(from: string, item: ConfirmItem, known: KnownOwner, nowMs: number): ConfirmVerdict {
    const refuse = (reason: RefusalReason): ConfirmVerdict => ({
      keyspace: item.keyspace,
      partition: item.partition,
      ok: false,
      owner: known.owner,
      epoch: known.epoch,
      reason,
    });
    if (this.quietRemainingMs(nowMs) > 0) return refuse('quiet');
    if (item.epoch < known.epoch) return refuse('stale-epoch');
    if (item.epoch > known.epoch) return refuse('unknown-epoch');
    if (known.owner !== from) return refuse('not-owner');
    const key = partitionKey(item.keyspace, item.partition);
    if (this.blockingFor(key, from, nowMs)) return refuse('promised-other');
    const prev = this.promises.get(key);
    const untilMs = nowMs + this.leaseMs;
    if (!prev || prev.owner !== from || prev.untilMs < untilMs) this.promises.set(key, { owner: from, epoch: item.epoch, untilMs });
    return { keyspace: item.keyspace, partition: item.partition, ok: true, owner: from, epoch: item.epoch };
  }

  /**
   * Forgets the promise made to `owner` for `key`, if that is the one held. Only for an owner
   * that gave up that lease itself (a voluntary release, or it confirmed a newer owner): the
   * promise protected a lease that no longer exists.
   */
  release(key: string, owner: string): void {
    if (this.promises.get(key)?.owner === owner) this.promises.delete(key);
  }

  entries(): IterableIterator<[string, VoterPromise]> {
    return this.promises.entries();
  }
}
