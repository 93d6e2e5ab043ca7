/**
 * The retention sweep: every `conflicts.sweepIntervalMs` it applies the age bounds (and the
 * size bounds) of the conflict journal and the dead letters, which the resolve script's
 * per-append trim cannot do for a journal nothing is appended to. What it drops before a
 * consumer acknowledged it is counted (geogate_evicted_total) and logged, never silently.
 * The outbox's age bound is the action worker's (an action undelivered for longer is moved
 * to the dead letters, not dropped).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../../infra/clock.js';
import { WorkerLoop } from './loop.js';
import { evictionsCounter } from '../metrics.js';
import type { ConflictStore, RetentionBounds } from '../store/index.js';

/** Script calls one sweep makes at most (each drops at most RETENTION_ROUND_ENTRIES_MAX journal entries). */
export const RETENTION_CALLS_PER_SWEEP_MAX = 64;

export class RetentionSweeper {
  private readonly loop: WorkerLoop;
  private readonly evicted;

  constructor(
    private readonly conflicts: ConflictStore,
    private readonly bounds: RetentionBounds,
    private readonly deps: { clock: Clock; log: Logger; registry: Registry },
    intervalMs: number,
  ) {
    this.evicted = evictionsCounter(deps.registry);
    this.loop = new WorkerLoop(deps.clock, intervalMs, () => this.sweepOnce().then(() => undefined, (err: Error) => {
      deps.log.warn({ err: err.message }, 'conflict retention sweep failed (store down?); retrying next interval');
    }));
  }

  start(): void { this.loop.start(); }
  stop(): void { this.loop.stop(); }

  /** One sweep (bounded); returns what it dropped. */
  async sweepOnce(): Promise<{ journalDropped: number; journalEvicted: number; deadLettersDropped: number }> {
    let journalDropped = 0;
    let journalEvicted = 0;
    let deadLettersDropped = 0;
    for (let i = 0; i < RETENTION_CALLS_PER_SWEEP_MAX; i++) {
      const r = await this.conflicts.sweep(this.bounds);
      journalDropped += r.journalDropped;
      journalEvicted += r.journalEvicted;
      deadLettersDropped += r.deadLettersDropped;
      if (!r.more) break;
    }
    if (journalEvicted > 0) {
      this.evicted.inc({ stream: 'journal' }, journalEvicted);
      this.deps.log.error({ evicted: journalEvicted, dropped: journalDropped, maxAgeMs: this.bounds.journalMaxAgeMs },
        'conflict journal entries dropped by the retention bounds before the consumer acknowledged them (read and acknowledge: GET /v1/conflicts?after=, POST /v1/conflicts/ack; or raise conflicts.journalMaxAgeMs)');
    } else if (journalDropped > 0) {
      this.deps.log.info({ dropped: journalDropped }, 'acknowledged conflict journal entries past the retention bounds dropped');
    }
    if (deadLettersDropped > 0) {
      this.evicted.inc({ stream: 'dead-letter' }, deadLettersDropped);
      this.deps.log.error({ dropped: deadLettersDropped, maxAgeMs: this.bounds.deadLetterMaxAgeMs },
        'dead letters dropped by the retention bounds (read and acknowledge them: GET/POST /v1/conflicts/dead-letters; or raise conflicts.deadLetterMaxAgeMs)');
    }
    return { journalDropped, journalEvicted, deadLettersDropped };
  }
}
