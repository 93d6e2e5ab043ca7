/**
 * The rollback check of the region's store (rollback-guard.ts) with several instances per
 * region, per coordinator term. The check compares the peers' cursors of the region's log
 * with its head, and only the coordinator holds links, so only the coordinator can run it.
 *
 * The rule:
 *  - each coordinator term compares the peers' first cursors with the log as it reads it at
 *    the takeover (`beginTerm`, before the role's links start; a clean-stop mark the last
 *    instance to stop left for exactly that log is consumed there, and then there is nothing
 *    to compare); the coordinator's writes wait for that comparison (its guard);
 *  - another instance's writes wait until a live board (renewed within BOARD_VALID_MS) says
 *    the current coordinator's check ended: the word of a term that ended is no word. Nothing
 *    is latched for the process: when the coordinator died with its Redis master and a
 *    replica that missed its last shipped seqs was promoted, the board the others read is the
 *    replica's (ended) or none, and their seq floor (the board's `h`) may be 20-40 ms behind
 *    what was shipped; writing on there would hand those seqs out again. They wait for the
 *    next term's comparison instead. An instance that is not the coordinator never opens
 *    unchecked on its own (it has no cursor to compare).
 * A rollback under a running coordinator is the store's identity check's, the seq floor's and
 * the head poll's, as before.
 */
import type { Logger } from 'pino';
import type { Authority, WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';
import type { BootLogState, RollbackGuard } from '../rollback-guard.js';
import type { BootstrapGate } from '../bootstrap-gate.js';

/** How long a client is told to wait while the region's writes wait for a coordinator's rollback check. */
export const REGION_CHECK_RETRY_AFTER_MS = 200;

export interface RegionCheckDeps {
  readonly guard: Pick<RollbackGuard, 'pending' | 'restart'>;
  /** This instance holds the coordinator role now. */
  isCoordinator(): boolean;
  /** A live board says the current coordinator's check ended (BoardReader.regionChecked). */
  boardSaysChecked(): boolean;
  readonly log: Logger;
}

export class RegionCheck {
  /** Whether this instance's writes were open at the last look (for the log line at a change). */
  private open = false;

  constructor(private readonly d: RegionCheckDeps) {}

  /** Writes of this instance wait (the write gate's `pending`). */
  pending(): boolean {
    const pending = this.d.isCoordinator() ? this.d.guard.pending() : !this.d.boardSaysChecked();
    if (pending === this.open) {
      this.open = !pending;
      this.d.log.info({ coordinator: this.d.isCoordinator() }, pending
        ? 'writes of this instance wait for the coordinator\'s rollback check of the region\'s store (a new term, or no live word from the coordinator)'
        : 'the region\'s store is watched: writes of this instance open');
    }
    return pending;
  }

  /**
   * Before this instance's coordinator role starts: the guard for the term, against the log as
   * Redis holds it now (`readLog`: RegionStore.bootLogState, which consumes a clean-stop mark).
   */
  async beginTerm(readLog: () => Promise<BootLogState>): Promise<void> {
    const state = await readLog();
    this.d.log.info({ headSeq: state.headSeq, cleanStop: state.cleanStop }, state.cleanStop
      ? 'coordinator term: the region stopped cleanly with this log, nothing to compare'
      : 'coordinator term: the peers\' first cursors are compared with the log as it is at the takeover before the region writes');
    this.d.guard.restart(state);
  }
}

/**
 * The region's write gate with the term's check over it: while `check.pending()` a write the
 * gate would take answers `503 bootstrapping` (the gate itself latches open once: the first
 * term's check, the bootstrap of an empty store). Everything else is the gate's.
 */
export class TermCheckedGate implements WriteAuthority {
  constructor(private readonly gate: BootstrapGate, private readonly term: Pick<RegionCheck, 'pending'>) {}

  isOpen(): boolean {
    return this.gate.isOpen() && !this.term.pending();
  }

  status(): ReturnType<BootstrapGate['status']> {
    return { ...this.gate.status(), writesOpen: this.isOpen() };
  }

  check(keyspace: KeyspaceConfig, partition: number): Authority {
    const a = this.gate.check(keyspace, partition);
    if (a.kind !== 'local' || !this.term.pending()) return a;
    return {
      kind: 'unavailable', retryAfterMs: REGION_CHECK_RETRY_AFTER_MS, code: 'bootstrapping',
      reason: 'the region\'s coordinator is comparing the peers\' cursors with its log (a new coordinator term), or this instance has no live word from it that it did; writes open when that is done',
    };
  }

  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined {
    return this.gate.activeRegion(keyspace, partition);
  }

  partitionState(keyspace: KeyspaceConfig, partition: number): string {
    const s = this.gate.partitionState(keyspace, partition);
    return s === 'active' && this.term.pending() ? 'bootstrapping' : s;
  }

  mayResolve(keyspace: KeyspaceConfig, partition: number): boolean {
    return this.gate.mayResolve(keyspace, partition);
  }

  currentEpoch(keyspace: KeyspaceConfig, partition: number): number | undefined {
    return this.gate.currentEpoch?.(keyspace, partition);
  }
}
