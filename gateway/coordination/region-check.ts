/**
 * The rollback check of the region's store (rollback-guard.ts) with several instances per
 * region. The check compares the peers' cursors of the region's log with its head, and only
 * the coordinator holds links, so only the coordinator can run it; the region needs it once
 * after a time nobody watched the store (every instance down), not at every instance's boot.
 *
 * The rule:
 *  - the coordinator's writes wait for its own guard (started again for its term, below);
 *  - another instance's writes wait until the store is known watched: its boot found the
 *    clean-stop mark for the log as it is, or a live board (renewed within BOARD_VALID_MS)
 *    says the coordinator's check ended. It never opens unchecked on its own (it has no
 *    cursor to compare: it would only raise its counters and leave a log renewal pending);
 *  - once known watched, it stays so for this process: a rollback under a running instance
 *    is noticed by the store's identity check, the seq floor and the coordinator's head poll,
 *    not by the boot check;
 *  - an instance that becomes the coordinator after that compares nothing with its boot head
 *    (stale: the others wrote since); one that never knew the store watched (the region
 *    restarting, the previous coordinator gone before its check ended) checks again against
 *    the log as it reads it at the takeover.
 */
import type { Logger } from 'pino';
import type { BootLogState, RollbackGuard } from '../rollback-guard.js';

export interface RegionCheckDeps {
  readonly guard: Pick<RollbackGuard, 'pending' | 'settled' | 'restart'>;
  /** This instance holds the coordinator role now. */
  isCoordinator(): boolean;
  /** A live board says the coordinator's check ended (BoardReader.regionChecked). */
  boardSaysChecked(): boolean;
  readonly log: Logger;
}

export class RegionCheck {
  private watched = false;

  constructor(private readonly d: RegionCheckDeps) {}

  /** Writes of this instance wait (the write gate's `pending`). */
  pending(): boolean {
    if (this.d.isCoordinator()) {
      if (this.d.guard.pending()) return true;
      this.latch('the coordinator\'s rollback check ended');
      return false;
    }
    if (this.watched) return false;
    if (this.d.guard.settled()) { this.latch('the boot found the clean-stop mark for the log as it is'); return false; }
    if (this.d.boardSaysChecked()) { this.latch('the coordinator\'s board says its rollback check ended'); return false; }
    return true;
  }

  /** Whether this process knows the store watched since a check ended. */
  known(): boolean {
    return this.watched;
  }

  /** Before this instance's coordinator role starts: the guard for the term (`readLog`: the log as Redis holds it now). */
  async beginTerm(readLog: () => Promise<BootLogState>): Promise<void> {
    if (!this.watched && this.d.guard.settled()) this.latch('the boot found the clean-stop mark for the log as it is');
    if (this.watched) {
      this.d.guard.restart(null);
      return;
    }
    const state = await readLog();
    this.d.log.warn({ headSeq: state.headSeq, cleanStop: state.cleanStop }, 'coordinator term without a known rollback check of the region\'s store: the peers\' cursors are compared with the log as it is now');
    this.d.guard.restart(state);
  }

  private latch(why: string): void {
    if (this.watched) return;
    this.watched = true;
    this.d.log.info({ why }, 'the region\'s store is watched: writes of this instance no longer wait for the rollback check');
  }
}
