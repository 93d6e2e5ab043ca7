import type { EventQueue } from './heap.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayMinMs: number;
  delayMaxMs: number;
}

export const CALM: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMinMs: 5, delayMaxMs: 40 };

/**
 * A seeded fake network between named nodes: drop, delay (hence reorder), duplicate, and
 * directed cuts (a one-way partition blocks a→b only). A message is delivered only if the
 * receiver is up and still in the incarnation it had when the message was sent or later.
 */
export class SimNetwork {
  faults: NetworkFaults = { ...CALM };
  private readonly blocked = new Set<string>();
  /** Per directed link: when the last in-order message arrives (sendOrdered). */
  private readonly orderedAt = new Map<string, number>();
  sent = 0;
  delivered = 0;

  constructor(
    private readonly q: EventQueue,
    private readonly random: () => number,
    private readonly now: () => number,
    private readonly isUp: (node: string) => boolean,
  ) {}

  cut(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }
  cutBoth(a: string, b: string): void {
    this.cut(a, b);
    this.cut(b, a);
  }
  heal(): void {
    this.blocked.clear();
  }
  isCut(from: string, to: string): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  send(from: string, to: string, deliver: () => void): void {
    if (!this.isUp(from)) {
      this.sent++;
      return;
    }
    this.sendFromSite(from, to, deliver);
  }

  /**
   * In order on the directed link (a TCP connection: the replication stream): delayed like
   * any message, never before the previous one, never duplicated; drops and cuts apply.
   */
  sendOrdered(from: string, to: string, deliver: () => void): void {
    this.sent++;
    if (!this.isUp(from) || this.isCut(from, to) || this.random() < this.faults.dropRate) return;
    const { delayMinMs, delayMaxMs } = this.faults;
    const link = `${from}>${to}`;
    const at = Math.max(this.now() + delayMinMs + this.random() * (delayMaxMs - delayMinMs), this.orderedAt.get(link) ?? 0);
    this.orderedAt.set(link, at);
    this.q.push(at, () => {
      if (!this.isUp(to) || this.isCut(from, to)) return;
      this.delivered++;
      deliver();
    });
  }

  /** From a site whatever its gateway's state (a client there): cuts, drops and delays apply. */
  sendFromSite(from: string, to: string, deliver: () => void): void {
    this.sent++;
    if (this.isCut(from, to) || this.random() < this.faults.dropRate) return;
    const copies = this.random() < this.faults.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const { delayMinMs, delayMaxMs } = this.faults;
      const at = this.now() + delayMinMs + this.random() * (delayMaxMs - delayMinMs);
      this.q.push(at, () => {
        if (!this.isUp(to) || this.isCut(from, to)) return;
        this.delivered++;
        deliver();
      });
    }
  }
}
