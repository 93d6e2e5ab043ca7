/**
 * The failback predicate of the ownership agent (`isCaughtUp`): the owner hands a partition
 * back to a region earlier in its node list only once that region has caught up — the
 * replicator sees it `up` with no unacknowledged entry (`lagEntries === 0`) AND a Merkle root
 * comparison of that partition with it, completed within the last FAILBACK_DIGEST_FRESH_MS,
 * found the roots equal.
 *
 * The agent calls `isCaughtUp` synchronously on every tick, so the comparison runs beside
 * it: with no fresh verdict for (keyspace, partition, region) the gate starts one
 * comparison (at most one in flight per key, at most `inFlightMax` in all) and answers false
 * until its verdict is in. A verdict, equal or not, stands for `freshMs`; a failed comparison
 * counts as "not equal", so a region that cannot answer is asked again no sooner than that.
 *
 * Without anti-entropy (`antiEntropy.enabled: false`, `compare: null`) there is nothing to
 * compare digests with, and the gate falls back to the lag-only rule (`up` and
 * `lagEntries === 0`).
 */
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/log.js';

/** How long an equal (or unequal) digest verdict stands. */
export const FAILBACK_DIGEST_FRESH_MS = 2000;
/** Digest comparisons running at once, over all partitions and regions. */
export const FAILBACK_COMPARISONS_IN_FLIGHT_MAX = 8;
/** Verdicts kept (oldest dropped first). */
export const FAILBACK_VERDICTS_MAX = 4096;

/** The replicator's view of one peer (a row of `Replicator.status()`). */
export interface FailbackPeerStatus {
  readonly region: string;
  readonly state: 'up' | 'suspect' | 'down';
  readonly lagEntries: number;
}

/** Compares this region's root of (keyspace, partition) with `region`'s; resolves false when not equal or not known. */
export type RootComparison = (region: string, keyspace: string, partition: number) => Promise<boolean>;

export interface FailbackGateDeps {
  readonly clock: Clock;
  /** The replicator's peer rows. */
  peers(): readonly FailbackPeerStatus[];
  /** Digest comparison; null when anti-entropy is disabled (lag-only rule). */
  readonly compare: RootComparison | null;
  readonly log?: Logger;
  readonly freshMs?: number;
  readonly inFlightMax?: number;
  readonly verdictsMax?: number;
}

interface Verdict {
  readonly equal: boolean;
  readonly atMs: number;
}

export class FailbackGate {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly inFlight = new Set<string>();
  private readonly freshMs: number;
  private readonly inFlightMax: number;
  private readonly verdictsMax: number;

  constructor(private readonly deps: FailbackGateDeps) {
    this.freshMs = deps.freshMs ?? FAILBACK_DIGEST_FRESH_MS;
    this.inFlightMax = deps.inFlightMax ?? FAILBACK_COMPARISONS_IN_FLIGHT_MAX;
    this.verdictsMax = deps.verdictsMax ?? FAILBACK_VERDICTS_MAX;
  }

  /** True only when `region` may take (keyspace, partition) back now (see the file comment). */
  isCaughtUp(keyspace: string, partition: number, region: string): boolean {
    const peer = this.deps.peers().find((s) => s.region === region);
    if (!peer || peer.state !== 'up' || peer.lagEntries !== 0) return false;
    const compare = this.deps.compare;
    if (!compare) return true;
    const key = `${keyspace}\u0000${partition}\u0000${region}`;
    const verdict = this.verdicts.get(key);
    if (verdict && this.deps.clock.monoMs() - verdict.atMs <= this.freshMs) return verdict.equal;
    this.startComparison(key, compare, keyspace, partition, region);
    return false;
  }

  /** Comparisons running now (for tests and status). */
  inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Verdicts held now (for tests and status). */
  verdictCount(): number {
    return this.verdicts.size;
  }

  private startComparison(key: string, compare: RootComparison, keyspace: string, partition: number, region: string): void {
    if (this.inFlight.has(key) || this.inFlight.size >= this.inFlightMax) return;
    this.inFlight.add(key);
    let run: Promise<boolean>;
    try {
      run = compare(region, keyspace, partition);
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then((equal) => equal === true, (err: unknown) => {
      this.deps.log?.debug({ keyspace, partition, region, err: (err as Error).message }, 'failback digest comparison failed');
      return false;
    }).then((equal) => {
      this.inFlight.delete(key);
      this.record(key, { equal, atMs: this.deps.clock.monoMs() });
      if (!equal) this.deps.log?.debug({ keyspace, partition, region }, 'partition digests differ: failback waits');
    });
  }

  private record(key: string, verdict: Verdict): void {
    // Map order = completion order: re-inserting keeps the oldest verdicts first.
    this.verdicts.delete(key);
    this.verdicts.set(key, verdict);
    const now = this.deps.clock.monoMs();
    for (const [k, v] of this.verdicts) {
      if (this.verdicts.size <= this.verdictsMax && now - v.atMs <= this.freshMs) break;
      this.verdicts.delete(k);
    }
  }
}
