/**
 * The partitions' fences written in batches (lua/setFences-1.lua). A witness round renews
 * every lease the region holds at once: with 4096 leased partitions, one script call per
 * fence cost Redis a call's overhead each (5 % of its time on an idle region) and queued the
 * commands behind them. Here a fence set or removed is queued by its key (a later one for
 * the same partition replaces the queued one: only the newest state matters, and the queue
 * is bounded by the number of partitions); the queue is written on the next turn of the
 * event loop, at most FENCES_PER_CALL_MAX fences a call, one batch at a time (a later
 * state of a fence is never overtaken by an older one still in flight).
 */

/** Fences one script call writes at most. */
export const FENCES_PER_CALL_MAX = 512;

export interface FenceChange {
  /** The fence's key. */
  readonly key: string;
  /** The partition the fence belongs to (the grouping of calls by slot). */
  readonly partition: number;
  /** A fence of `epoch` until `leaseEndMonoMs` (monotonic ms), or removed (`undefined`). */
  readonly set: { readonly epoch: number; readonly leaseEndMonoMs: number } | undefined;
}

interface Queued {
  change: FenceChange;
  readonly waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

export class FenceWriter {
  private queued = new Map<string, Queued>();
  private running = false;
  private scheduled = false;

  /** `write` writes one batch (one or more script calls); it fails as a whole or not at all for the caller's purposes. */
  constructor(private readonly write: (batch: readonly FenceChange[]) => Promise<void>) {}

  /** Fences queued and not yet sent. */
  get pending(): number {
    return this.queued.size;
  }

  /** Queues a fence's new state; resolved once it (or a later state of the same fence) is written. */
  submit(change: FenceChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const q = this.queued.get(change.key);
      if (q) {
        q.change = change;
        q.waiters.push({ resolve, reject });
      } else this.queued.set(change.key, { change, waiters: [{ resolve, reject }] });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running || this.queued.size === 0) return;
    this.running = true;
    const batch = [...this.queued.values()];
    this.queued = new Map();
    try {
      await this.write(batch.map((q) => q.change));
      for (const q of batch) for (const w of q.waiters) w.resolve();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const q of batch) for (const w of q.waiters) w.reject(e);
    } finally {
      this.running = false;
      if (this.queued.size > 0) this.schedule();
    }
  }
}
