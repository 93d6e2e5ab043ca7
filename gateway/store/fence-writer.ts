/**
 * The partitions' fences written in batches (lua/setFences-1.lua). A witness round renews
 * every lease the region holds at once: with 4096 leased partitions, one script call per
 * fence cost Redis a call's overhead each (5 % of its time on an idle region) and queued the
 * commands behind them. Here a fence set or removed is queued by its key (a later one for
 * the same partition replaces the queued one: only the newest state matters, and the queue
 * is bounded by the number of partitions); the queue is written on the next turn of the
 * event loop, at most FENCES_PER_CALL_MAX fences a call. One batch is prepared at a time and
 * the next one only once the previous one's commands are on the connection (`issued`): the
 * commands of one connection run in the order sent, so an older state of a fence is never
 * written after a newer one, and a slow reply does not hold the next renewals back.
 *
 * A removal that failed is queued again (after FENCE_RETRY_MS) until it is written, a newer
 * state of its fence replaces it, or another instance coordinates (its token is refused): a removal closes the window of a lease given up early
 * (a handover), and it is always safe to write. A failed set is not: the next renewal sets
 * its fence anew.
 */

/** Fences one script call writes at most. */
export const FENCES_PER_CALL_MAX = 512;
/** A failed removal is written again this long after its batch failed. */
export const FENCE_RETRY_MS = 250;

export interface FenceChange {
  /** The fence's key. */
  readonly key: string;
  /** The partition the fence belongs to (the grouping of calls by slot). */
  readonly partition: number;
  /** A fence of `epoch` until `leaseEndMonoMs` (monotonic ms), or removed (`undefined`). */
  readonly set: { readonly epoch: number; readonly leaseEndMonoMs: number } | undefined;
  /** The coordinator token it is written under, taken when it was queued (a later term's token never writes an earlier term's fence). */
  readonly token: string;
}

/** What a batch did: the changes it could not write, with why (the others are written). */
export type FenceBatchFailures = ReadonlyMap<FenceChange, Error>;

/**
 * Writes one batch: calls `issued` once every command of the batch is on the connection (or
 * none will be), and answers the changes it could not write.
 */
export type FenceBatchWrite = (batch: readonly FenceChange[], issued: () => void) => Promise<FenceBatchFailures>;

interface Queued {
  change: FenceChange;
  readonly waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

export class FenceWriter {
  private queued = new Map<string, Queued>();
  private preparing = false;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;

  /** `retriable`: whether a removal that failed with this error is written again (not when another instance coordinates now: its token would be refused forever). */
  constructor(private readonly write: FenceBatchWrite, private readonly retriable: (err: Error) => boolean = () => true) {}

  /** Fences queued and not yet sent. */
  get pending(): number {
    return this.queued.size;
  }

  /** Queues a fence's new state; resolved once it (or a later state of the same fence) is written, rejected when it could not be. */
  submit(change: FenceChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue(change, { resolve, reject });
      this.schedule();
    });
  }

  private enqueue(change: FenceChange, waiter?: Queued['waiters'][number]): void {
    const q = this.queued.get(change.key);
    if (q) {
      q.change = change;
      if (waiter) q.waiters.push(waiter);
    } else this.queued.set(change.key, { change, waiters: waiter ? [waiter] : [] });
  }

  private schedule(): void {
    if (this.preparing || this.scheduled) return;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.scheduled) return;
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.schedule(); }, FENCE_RETRY_MS);
    this.retryTimer.unref?.();
  }

  private async flush(): Promise<void> {
    if (this.preparing || this.queued.size === 0) return;
    this.preparing = true;
    const batch = [...this.queued.values()];
    this.queued = new Map();
    let released = false;
    const issued = () => {
      if (released) return;
      released = true;
      this.preparing = false;
      if (this.queued.size > 0) this.schedule();
    };
    let failures: FenceBatchFailures;
    try {
      failures = await this.write(batch.map((q) => q.change), issued);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      failures = new Map(batch.map((q) => [q.change, e]));
    } finally {
      issued();
    }
    let retry = false;
    for (const q of batch) {
      const err = failures.get(q.change);
      if (!err) { for (const w of q.waiters) w.resolve(); continue; }
      for (const w of q.waiters) w.reject(err);
      // a removal is written again, unless a newer state of its fence was queued meanwhile
      if (q.change.set === undefined && this.retriable(err) && !this.queued.has(q.change.key)) {
        this.enqueue(q.change);
        retry = true;
      }
    }
    if (retry) this.scheduleRetry();
  }
}
