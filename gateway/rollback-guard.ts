/**
 * Notices a region store that came back with older data (an old RDB snapshot, an
 * append-only file missing its last unsynced second, a failover to a lagging replica)
 * while the gateway restarted too, so that nothing this process remembers can tell.
 *
 * The durable facts are the peers' cursors into our log: what a peer acknowledged, it
 * applied in the same atomic call that moved its cursor. So a rollback is:
 *  - a peer's cursor above our log's last seq (the sender sees it at link start), or
 *  - at a boot that does not follow a clean stop with exactly this log, a peer's cursor
 *    for the log's incarnation at boot above the head the store held at boot (checked
 *    against the boot head, not the current one: writes taken since may have passed it),
 *    at the peer's first link since boot only (its later links carry writes made since).
 * A store with no clean-stop mark takes no writes until every peer's cursor was compared
 * (or `checkWaitMs` passed: writes then open with the counter floor raised, and a peer
 * that connects later is still compared with the boot head).
 *
 * The guard only decides; the gateway handles a rollback like a data loss (new log
 * incarnation, counter floor, every partition pulled again and repaired with every peer).
 */
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';
import type { CursorEvent } from '../replicator/replicator.js';

/** Longest writes wait at an unclean boot for every peer's cursor (a served peer redials within its 5 s backoff). */
export const ROLLBACK_CHECK_WAIT_MS = 6_000;

export interface BootLogState {
  readonly headSeq: number;
  /** The log's incarnation at boot (null: none yet — an empty store, bootstrapped instead). */
  readonly incarnation: string | null;
  /** The gateway before stopped cleanly with exactly this log. */
  readonly cleanStop: boolean;
}

export interface RollbackGuardOptions {
  readonly peers: readonly string[];
  readonly clock: Clock;
  readonly checkWaitMs: number;
  readonly log: Logger;
  /** The store came back with older data (called once per log incarnation). */
  readonly onRollback: (why: string) => void;
  /** Writes open at an unclean boot before every peer's cursor was compared. */
  readonly onUncheckedOpen?: (peers: readonly string[]) => void;
}

export class RollbackGuard {
  private bootKnown = false;
  private boot: { headSeq: number; incarnation: string } | null = null;
  private readonly unchecked = new Set<string>();
  private checkEnded = false;
  /** When the boot state was read (the cursor comparison's wait counts from there). */
  private since = 0;
  /** Incarnations already handled as rolled back (every peer reports the same). */
  private readonly handled = new Set<string>();
  /** Cursors reported before the boot state was read (Redis answered late): compared then. */
  private readonly early = new Map<string, CursorEvent>();

  constructor(private readonly o: RollbackGuardOptions) {
    if (o.peers.length === 0) this.bootKnown = true; // nobody holds cursors of ours
  }

  /** The store's log at boot (RegionStore.bootLogState), read before any write. */
  booted(state: BootLogState): void {
    if (this.bootKnown) return;
    this.bootKnown = true;
    this.since = this.o.clock.monoMs();
    if (!state.cleanStop && state.incarnation !== null) {
      this.boot = { headSeq: state.headSeq, incarnation: state.incarnation };
      for (const p of this.o.peers) this.unchecked.add(p);
      this.o.log.warn({ headSeq: state.headSeq, peers: this.o.peers }, 'the gateway did not stop cleanly with this log: writes wait until every peer\'s cursor was compared with the log head');
    }
    // cursors reported before the read (writes waited for it: the head is the one they met)
    for (const e of this.early.values()) this.onCursor(e);
    this.early.clear();
  }

  /**
   * Writes wait: the boot state is not read yet (no write succeeds before Redis answers
   * anyway), or an unclean boot still compares cursors (at most checkWaitMs from the read).
   */
  pending(): boolean {
    if (!this.bootKnown) return true;
    if (this.checkEnded || this.unchecked.size === 0) return false;
    if (this.o.clock.monoMs() - this.since < this.o.checkWaitMs) return true;
    this.checkEnded = true;
    const peers = [...this.unchecked].sort();
    if (peers.length > 0) {
      this.o.log.warn({ peers, checkWaitMs: this.o.checkWaitMs }, 'writes open before every peer\'s cursor was compared with the log head; compared when the peer connects');
      this.o.onUncheckedOpen?.(peers);
    }
    return false;
  }

  /** The boot state is read and nothing waits for a cursor any more (no side effect, unlike `pending`). */
  settled(): boolean {
    return this.bootKnown && (this.checkEnded || this.unchecked.size === 0);
  }

  /**
   * Starts the check again (several instances per region: this instance becomes the
   * coordinator). `state` null: a running instance watched the region's store since a check
   * ended, nothing to compare (this process's boot head is stale: the others wrote since);
   * otherwise the log as read now, compared as at a boot.
   */
  restart(state: BootLogState | null): void {
    this.boot = null;
    this.unchecked.clear();
    this.early.clear();
    this.checkEnded = state === null;
    this.bootKnown = state === null || this.o.peers.length === 0;
    if (state !== null) this.booted(state);
  }

  /** Every established link's cursor (Replicator.onCursor). */
  onCursor(e: CursorEvent): void {
    if (!this.bootKnown) return void this.early.set(e.peer, e);
    if (this.handled.has(e.ownIncarnation)) return;
    if (e.lastSeq !== undefined && e.cursor > e.lastSeq) {
      return this.rollback(e.ownIncarnation, `peer ${e.peer} acknowledged seq ${e.cursor} of our log, which ends at ${e.lastSeq}`);
    }
    const boot = this.boot;
    if (!boot || e.ownIncarnation !== boot.incarnation) return;
    // only a peer's first link since boot tells what it held before: once compared, its later
    // links (after a cut) carry what this region wrote since, above the boot head by right
    if (!this.unchecked.has(e.peer)) return;
    if (e.cursor > boot.headSeq) {
      return this.rollback(e.ownIncarnation, `peer ${e.peer} acknowledged seq ${e.cursor} of our log, which held ${boot.headSeq} at boot`);
    }
    this.unchecked.delete(e.peer);
  }

  private rollback(incarnation: string, why: string): void {
    this.handled.add(incarnation);
    this.boot = null; // the log restarts under a new incarnation: nothing left to compare
    this.unchecked.clear();
    this.o.log.error({ why }, 'the region\'s store came back with older data');
    this.o.onRollback(why);
  }
}
