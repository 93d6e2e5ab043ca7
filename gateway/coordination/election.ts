/**
 * The region's coordinator election: one instance at a time holds a lease in the region's
 * Redis (lease-store.ts) and with it a fencing token (a number raised at every takeover).
 * The holder runs the region's coordinator role (links, witness agent, anti-entropy, the
 * conflict and action workers, retention); the others serve the HTTP API only.
 *
 * Safety: the holder counts its lease from the *send* time of the claim that Redis answered
 * (`sentAt + leaseMs - driftMarginMs`, monotonic), while Redis counts the key's expiry from
 * when it *ran* the claim, later: the holder's belief ends before the key does, so no other
 * instance can be granted the lease while the holder still believes it holds it. The holder
 * steps down on its own clock at the end (a timer at that instant and a check at every
 * `token()`), without waiting for Redis. Whatever a stale holder sends anyway (a process
 * resumed after a freeze) carries its old token, which the store's scripts refuse.
 *
 * Pure of I/O: the lease store and the clock are passed in (the simulation drives it with
 * fakes: election.test.ts).
 */
import type { Clock, TimerHandle } from '../../infra/clock.js';

export const DEFAULT_COORDINATOR_LEASE_MS = 1000;
export const DEFAULT_COORDINATOR_DRIFT_MARGIN_MS = 100;
/** The token a non-coordinator sends: no lease holds it (tokens are positive integers). */
export const NOT_COORDINATOR_TOKEN = 'none';

export interface LeaseClaim {
  /** The instance holding the lease after the call ('' when nobody does, after a release). */
  readonly holder: string;
  readonly token: number;
  /** The holder's URL (where peers reach the coordinator). */
  readonly url: string;
}

export interface CoordinatorLeaseStore {
  /**
   * Takes the lease when nobody holds it (a new token, above `seenToken`: the highest token
   * this instance has seen, so a store that lost its counter never hands it out again),
   * renews it when `id` holds it; answers the holder.
   */
  claim(id: string, url: string, leaseMs: number, seenToken: number): Promise<LeaseClaim>;
  /** Gives the lease up when `id` holds it (a clean stop: the next instance takes over at once). */
  release(id: string): Promise<void>;
}

export interface ElectionOptions {
  readonly id: string;
  readonly url: string;
  readonly leaseMs: number;
  /** How often the holder renews and the others try to take over; well inside the lease. */
  readonly renewMs: number;
  readonly driftMarginMs: number;
}

export interface ElectionEvents {
  /** This instance holds the lease now, with `token`: start the coordinator role. */
  onElected(token: number): void;
  /** This instance does not hold it any more (`why`): stop the coordinator role at once. */
  onDemoted(why: string): void;
  /** Another instance (or none) is the coordinator as far as the last claim said. */
  onHolder?(holder: LeaseClaim): void;
}

export interface ElectionStatus {
  readonly id: string;
  readonly role: 'coordinator' | 'instance';
  readonly token: number | null;
  readonly coordinator: { readonly id: string; readonly url: string; readonly token: number } | null;
  readonly takeovers: number;
}

export function checkElectionOptions(o: ElectionOptions): void {
  if (!(o.renewMs > 0 && o.renewMs * 2 <= o.leaseMs - o.driftMarginMs)) {
    throw new RangeError(`coordination: renewMs ${o.renewMs} must be > 0 and at most half of leaseMs - driftMarginMs (${o.leaseMs - o.driftMarginMs})`);
  }
}

export class CoordinatorElection {
  private validUntilMs = 0;
  private currentToken: number | null = null;
  private inFlight = false;
  private running = false;
  private tickTimer: TimerHandle | null = null;
  private endTimer: TimerHandle | null = null;
  private lastHolder: LeaseClaim | null = null;
  private takeovers = 0;
  /** The highest token any claim answered (ours or another's): a takeover's token is above it. */
  private seenToken = 0;

  constructor(
    private readonly options: ElectionOptions,
    private readonly store: CoordinatorLeaseStore,
    private readonly clock: Clock,
    private readonly events: ElectionEvents,
  ) {
    checkElectionOptions(options);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  /** Stops standing; a holder steps down and releases the lease (best effort). */
  async stop(): Promise<void> {
    this.running = false;
    this.tickTimer?.cancel();
    this.tickTimer = null;
    const held = this.currentToken !== null;
    this.demote('instance stopping');
    if (held) await this.store.release(this.options.id).catch(() => {});
  }

  /** The token to send with coordinator actions: the held one while the lease is valid on our clock, else one no lease holds. */
  token(): string {
    return this.isCoordinator() ? String(this.currentToken) : NOT_COORDINATOR_TOKEN;
  }

  isCoordinator(): boolean {
    if (this.currentToken === null) return false;
    if (this.clock.monoMs() < this.validUntilMs) return true;
    this.demote('the coordinator lease ran out before a renewal was answered');
    return false;
  }

  status(): ElectionStatus {
    const h = this.lastHolder;
    return {
      id: this.options.id, role: this.isCoordinator() ? 'coordinator' : 'instance', token: this.currentToken,
      coordinator: h && h.holder !== '' ? { id: h.holder, url: h.url, token: h.token } : null, takeovers: this.takeovers,
    };
  }

  private tick(): void {
    if (!this.running) return;
    this.isCoordinator(); // steps down when the lease ran out
    if (!this.inFlight) void this.claim();
    this.tickTimer = this.clock.setTimer(this.options.renewMs, () => this.tick());
  }

  private async claim(): Promise<void> {
    this.inFlight = true;
    const sentAtMs = this.clock.monoMs();
    let reply: LeaseClaim;
    try {
      reply = await this.store.claim(this.options.id, this.options.url, this.options.leaseMs, this.seenToken);
    } catch {
      return; // the lease runs out on its own clock: nothing to do here
    } finally {
      this.inFlight = false;
    }
    if (Number.isSafeInteger(reply.token) && reply.token > this.seenToken) this.seenToken = reply.token;
    if (!this.running) return;
    // a reply that took longer than a lease (this process was frozen) says nothing of now
    if (this.clock.monoMs() - sentAtMs >= this.options.leaseMs) return;
    this.lastHolder = reply;
    this.events.onHolder?.(reply);
    if (reply.holder !== this.options.id) {
      this.demote(`instance ${reply.holder || '(none)'} holds the coordinator lease`);
      return;
    }
    const validUntilMs = sentAtMs + this.options.leaseMs - this.options.driftMarginMs;
    if (validUntilMs <= this.clock.monoMs()) return; // answered too late to count
    // a new token: the lease had ended in Redis meanwhile (another may have held it)
    if (this.currentToken !== null && this.currentToken !== reply.token) this.demote('the coordinator lease was taken again under a new token');
    if (this.currentToken === null && !this.isCoordinatorAt(reply.token, validUntilMs)) return;
    this.validUntilMs = Math.max(this.validUntilMs, validUntilMs);
    this.armEnd();
  }

  /** Becomes the coordinator with `token` until `validUntilMs`. */
  private isCoordinatorAt(token: number, validUntilMs: number): boolean {
    this.currentToken = token;
    this.validUntilMs = validUntilMs;
    this.takeovers++;
    this.armEnd();
    this.events.onElected(token);
    return this.currentToken === token;
  }

  private armEnd(): void {
    this.endTimer?.cancel();
    const inMs = this.validUntilMs - this.clock.monoMs();
    this.endTimer = this.clock.setTimer(Math.max(0, inMs), () => { this.isCoordinator(); });
  }

  private demote(why: string): void {
    if (this.currentToken === null) return;
    this.currentToken = null;
    this.validUntilMs = 0;
    this.endTimer?.cancel();
    this.endTimer = null;
    // who holds the lease now is unknown until the next claim answers (not us, as far as we know)
    if (this.lastHolder?.holder === this.options.id) this.lastHolder = null;
    this.events.onDemoted(why);
  }
}
