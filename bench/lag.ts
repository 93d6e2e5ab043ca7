/**
 * Replication lag by markers: every `everyN`-th acknowledged write is a marker; a poller
 * reads the destination's Redis in a tight loop (one pipelined read of every pending
 * marker per round) and records when each marker's value (or a later write of the same
 * key) became visible. Lag = visible − acknowledged at the source. The same code measures
 * geogate and Redis REPLICAOF; only `readIndexes` differs.
 */
import { percentile } from './stats.js';

export const LAG_PENDING_MAX = 2000;
export const LAG_POLL_PAUSE_MS = 1;

/** For each key, the write index found in the destination (-1 when absent). */
export type ReadIndexes = (keys: string[]) => Promise<number[]>;

export interface LagResult {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Markers not taken because LAG_PENDING_MAX were pending. */
  skipped: number;
  /** Markers still not visible when the tracker stopped. */
  unseen: number;
  pollRounds: number;
}

interface Pending { index: number; key: string; ackAtMs: number }

export class LagTracker {
  private readonly pending = new Map<number, Pending>();
  private readonly lagsMs: number[] = [];
  private skipped = 0;
  private pollRounds = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly readIndexes: ReadIndexes, private readonly keyOf: (i: number) => string, private readonly everyN: number) {}

  /** Called by the driver when write i was acknowledged at the source. */
  onAck(i: number, ackAtMs: number): void {
    if (i % this.everyN !== 0) return;
    if (this.pending.size >= LAG_PENDING_MAX) {
      this.skipped++;
      return;
    }
    this.pending.set(i, { index: i, key: this.keyOf(i), ackAtMs });
  }

  start(): void {
    this.running = true;
    this.loop = this.poll();
  }

  /** Keeps polling up to `drainMs` for markers still pending, then stops. */
  async stop(drainMs: number): Promise<LagResult> {
    const deadline = performance.now() + drainMs;
    while (this.pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.running = false;
    await this.loop;
    return {
      samples: this.lagsMs.length,
      p50Ms: percentile(this.lagsMs, 50),
      p99Ms: percentile(this.lagsMs, 99),
      maxMs: this.lagsMs.length ? Math.max(...this.lagsMs) : Number.NaN,
      skipped: this.skipped, unseen: this.pending.size, pollRounds: this.pollRounds,
    };
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const batch = [...this.pending.values()];
      if (batch.length > 0) {
        const found = await this.readIndexes(batch.map((p) => p.key));
        const now = performance.now();
        this.pollRounds++;
        batch.forEach((p, j) => {
          if ((found[j] ?? -1) >= p.index) {
            this.lagsMs.push(now - p.ackAtMs);
            this.pending.delete(p.index);
          }
        });
      }
      await new Promise((r) => setTimeout(r, LAG_POLL_PAUSE_MS));
    }
  }
}

/** Values written by the drivers start with `<index>:`. */
export function indexOfValue(v: string | Buffer | null): number {
  if (v === null) return -1;
  const s = typeof v === 'string' ? v : v.toString('latin1', 0, 24);
  const n = Number.parseInt(s, 10);
  return Number.isFinite(n) ? n : -1;
}
