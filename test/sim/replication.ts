/**
 * The replication link in the simulation, as far as a handover needs it: each region's
 * replicator ships its own log (SimLog, in its store) to every peer in batches over the
 * fake network; the peer applies a batch through its store (a frozen store stalls it) and
 * acks the applied cursor. What the real `HandoverDriver` reads of it (`peers()`,
 * `waitForAck`, `compare`) has the replicator's meaning (replicator/replicator.ts):
 * `lagEntries` is our log head minus the peer's acked cursor, for the whole log; a wait
 * resolves false on timeout or when the link is down; the partition's "roots" are equal when
 * both ends hold the same entries of it from every origin.
 */
import type { Clock } from '../../infra/clock.js';
import type { HandoverPeerStatus } from '../../gateway/ownership/handover.js';
import type { LinkState } from '../../witness/agent-types.js';
import type { SimStore } from './store.js';

/**
 * The sender ships on the ticks of its region (SimCluster.tickRegion, every 12.5–37.5 ms),
 * at most every `shipEveryMsMin` unless a handover waits for an ack (then on every tick).
 */
export interface ReplicationOptions {
  readonly shipEveryMsMin: number;
  readonly batchEntriesMax: number;
  /** Entries sent and not yet acked, at most. */
  readonly windowEntriesMax: number;
  /** No ack progress for this long with entries outstanding: resend from the acked cursor. */
  readonly resendAfterMs: number;
}

export const REPLICATION_DEFAULTS: ReplicationOptions = { shipEveryMsMin: 50, batchEntriesMax: 256, windowEntriesMax: 1024, resendAfterMs: 250 };

export interface ReplicatorDeps {
  readonly region: string;
  readonly peers: readonly string[];
  readonly clock: Clock;
  storeOf(region: string): SimStore;
  linkState(peer: string): LinkState;
  /** Sends to `to` over the fake network; `deliver` runs there if its gateway is up. */
  send(to: string, deliver: () => void): void;
  /** The same, in order on the link (the replication stream: batches and acks). */
  sendOrdered(to: string, deliver: () => void): void;
  /** The replicator now serving `region` (null: its gateway is down). */
  replicatorOf(region: string): SimReplicator | null;
  /** This incarnation still runs. */
  alive(): boolean;
}

interface Waiter {
  readonly seq: number;
  readonly done: (ok: boolean) => void;
}

class PeerCursor {
  ackedSeq: number | null = null;
  sentSeq = 0;
  progressAtMs = 0;
  helloAtMs = Number.NEGATIVE_INFINITY;
  waiters: Waiter[] = [];
}

/** One gateway incarnation's replicator (a crash drops it; the log and cursors stay in the stores). */
export class SimReplicator {
  private readonly cursors = new Map<string, PeerCursor>();
  private shippedAtMs = Number.NEGATIVE_INFINITY;
  batches = 0;

  constructor(private readonly d: ReplicatorDeps, private readonly o: ReplicationOptions = REPLICATION_DEFAULTS) {
    for (const p of d.peers) this.cursors.set(p, new PeerCursor());
  }

  private get log() {
    return this.d.storeOf(this.d.region).log;
  }

  status(): HandoverPeerStatus[] {
    const head = this.log.headSeq;
    return [...this.cursors].map(([region, c]) => ({
      region, state: this.d.linkState(region), lagEntries: Math.max(0, head - (c.ackedSeq ?? 0)), ackedSeq: c.ackedSeq, needsRepair: false,
    }));
  }

  waitForAck(peer: string, seq: number, timeoutMs: number): Promise<boolean> {
    const c = this.cursor(peer);
    if ((c.ackedSeq ?? 0) >= seq) return Promise.resolve(true);
    if (this.d.linkState(peer) === 'down') return Promise.resolve(false);
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok: boolean) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(ok);
      };
      const timer = this.d.clock.setTimer(timeoutMs, () => done(false));
      c.waiters.push({ seq, done });
    });
  }

  /** Periodic: ship the next batches to every peer whose link is not down (a batching delay of shipEveryMsMin). */
  ship(): void {
    const now = this.d.clock.monoMs();
    if (now - this.shippedAtMs < this.o.shipEveryMsMin && ![...this.cursors.values()].some((c) => c.waiters.length > 0)) return;
    this.shippedAtMs = now;
    for (const [peer, c] of this.cursors) {
      if (this.d.linkState(peer) === 'down') {
        this.linkDown(c);
        continue;
      }
      if (c.ackedSeq === null) {
        // HELLO: learn the peer's applied cursor (durable in its store)
        if (now - c.helloAtMs >= this.o.resendAfterMs) {
          c.helloAtMs = now;
          this.sendBatch(peer, 0, 0);
        }
        continue;
      }
      if (c.sentSeq > c.ackedSeq && now - c.progressAtMs > this.o.resendAfterMs) c.sentSeq = c.ackedSeq; // a batch or its ack was lost
      const head = this.log.headSeq;
      while (c.sentSeq < head && c.sentSeq - c.ackedSeq < this.o.windowEntriesMax) {
        if (c.sentSeq === c.ackedSeq) c.progressAtMs = now;
        const to = Math.min(head, c.sentSeq + this.o.batchEntriesMax);
        this.sendBatch(peer, c.sentSeq + 1, to);
        c.sentSeq = to;
      }
    }
  }

  /**
   * Partition roots equal here and at `peer` (one round trip): for every origin, both ends
   * hold the same number of its entries of the partition (entries apply in order). Never
   * answers if a message is lost (the handover's bound ends the wait).
   */
  compareRoots(peer: string, partition: number): Promise<boolean> {
    const mine = this.rootOf(this.d.region, partition);
    return new Promise((resolve) => {
      this.d.send(peer, () => {
        const theirs = this.rootOf(peer, partition);
        const equal = mine.every((n, i) => n === theirs[i]);
        this.d.replicatorOf(peer)?.d.send(this.d.region, () => {
          if (this.d.alive()) resolve(equal);
        });
      });
    });
  }

  /** At the receiver: apply a batch of `from`'s log through our store, ack the cursor. */
  receive(from: string, fromSeq: number, toSeq: number): void {
    this.d.storeOf(this.d.region).send({ kind: 'apply', from, fromSeq, toSeq }, (cursor) => {
      if (!this.d.alive()) return;
      this.d.sendOrdered(from, () => this.d.replicatorOf(from)?.onAck(this.d.region, cursor as number));
    });
  }

  onAck(peer: string, cursor: number): void {
    const c = this.cursor(peer);
    if (c.ackedSeq !== null && cursor <= c.ackedSeq) return;
    c.ackedSeq = cursor;
    c.progressAtMs = this.d.clock.monoMs();
    if (c.sentSeq < cursor) c.sentSeq = cursor;
    const still: Waiter[] = [];
    for (const w of c.waiters) (w.seq <= cursor ? w.done(true) : still.push(w));
    c.waiters = still;
  }

  private rootOf(region: string, partition: number): number[] {
    const at = this.d.storeOf(region).log;
    return [this.d.region, ...this.d.peers].sort().map((origin) => {
      const log = this.d.storeOf(origin).log;
      return origin === region ? log.countThrough(partition, log.headSeq) : log.countThrough(partition, at.appliedFrom.get(origin) ?? 0);
    });
  }

  private sendBatch(peer: string, fromSeq: number, toSeq: number): void {
    this.batches++;
    const from = this.d.region;
    this.d.sendOrdered(peer, () => this.d.replicatorOf(peer)?.receive(from, fromSeq, toSeq));
  }

  private linkDown(c: PeerCursor): void {
    c.ackedSeq = null;
    c.sentSeq = 0;
    c.helloAtMs = Number.NEGATIVE_INFINITY;
    const waiters = c.waiters;
    c.waiters = [];
    for (const w of waiters) w.done(false);
  }

  private cursor(peer: string): PeerCursor {
    const c = this.cursors.get(peer);
    if (!c) throw new Error(`unknown peer ${peer}`);
    return c;
  }
}
