import type { GrantReason } from './protocol.js';

/** One ownership change, with why it happened (explainable failover). */
export interface Decision {
  readonly atMs: number; // wall clock, for operators
  readonly keyspace: string;
  readonly partition: number;
  readonly fromOwner: string;
  readonly toOwner: string;
  readonly epoch: number;
  readonly reason: GrantReason;
  readonly requester: string;
  readonly detail: string;
}

export const DEFAULT_DECISIONS_MAX = 1000;

/** A bounded log: at `max` entries the oldest is dropped. */
export class DecisionLog {
  private items: Decision[] = [];

  constructor(readonly max: number = DEFAULT_DECISIONS_MAX, initial: readonly Decision[] = []) {
    if (!(max >= 1)) throw new Error('decision log needs max >= 1');
    for (const d of initial) this.push(d);
  }

  push(d: Decision): void {
    this.items.push(d);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
  }

  /** The newest `limit` decisions, oldest first. */
  recent(limit = this.max): Decision[] {
    return this.items.slice(Math.max(0, this.items.length - limit));
  }

  get size(): number {
    return this.items.length;
  }
}
