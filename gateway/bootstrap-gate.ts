/**
 * Write gate of a region whose store started empty (a wiped or new Redis behind an existing
 * region). Until anti-entropy pulled every partition from the peers that are up, the region
 * does not know what its peers hold: a write would answer `If-None-Match: *` and `If-Match`
 * against an empty store, and every key it wrote would fork a version the peers already
 * have. So writes the region would take answer `503 bootstrapping` with `Retry-After`;
 * redirects, reads and everything else go on as before.
 *
 * The gate opens when the bootstrap is done, or after `waitMs` (then with a warning): a
 * peer that stays down must not hold the region's writes forever. In that case the gateway
 * first raises the store's counter floor (RegionStore.raiseCounterFloor): the region's own
 * counters restarted at zero with the wipe, and without the floor a new version could be
 * dominated by an older one a peer still holds, and lost without a conflict; with it, what
 * the region writes meanwhile dominates or conflicts, and merges through the conflict path
 * when the peers return. Once open it stays open.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Authority, WriteAuthority } from './authority.js';
import type { KeyspaceConfig } from './config.js';
import type { Clock } from '../infra/clock.js';
import type { Logger } from '../infra/log.js';

export type BootstrapState = 'none' | 'pending' | 'done';
export const BOOTSTRAP_RETRY_AFTER_MS = 1000;

export interface BootstrapGateOptions {
  readonly clock: Clock;
  /** Longest time writes stay gated (0 = never gate). */
  readonly waitMs: number;
  readonly log: Logger;
  readonly registry: Registry;
  /** The bootstrap's state now ('none' when the store did not start empty or nothing bootstraps). */
  readonly state: () => BootstrapState;
  /** Whether the bootstrap pulled from every peer (default: true once done). */
  readonly complete?: () => boolean;
  /**
   * Called synchronously, before the first write goes through, when the writes open without
   * a bootstrap from every peer — the wait ran out, `waitMs` is 0, or a peer was not up when
   * it was done (the gateway raises the store's counter floor there).
   */
  readonly onOpenedIncomplete?: () => void;
}

export class BootstrapGate implements WriteAuthority {
  private opened = false;
  private readonly since: number;
  private readonly gauge: Gauge;

  constructor(private readonly inner: WriteAuthority, private readonly o: BootstrapGateOptions) {
    this.since = o.clock.monoMs();
    this.gauge = new Gauge({
      name: 'geogate_bootstrap_gated', help: '1 while writes wait for the bootstrap of a store that started empty', registers: [o.registry],
      collect: () => { this.gauge.set(this.isOpen() ? 0 : 1); },
    });
  }

  /** Whether writes may go through now (latched once true). */
  isOpen(): boolean {
    if (this.opened) return true;
    const state = this.o.state();
    if (state === 'none') return (this.opened = true);
    if (state === 'done') {
      this.opened = true;
      const complete = this.o.complete?.() ?? true;
      if (!complete) this.o.onOpenedIncomplete?.();
      this.o.log.info({ afterMs: Math.round(this.o.clock.monoMs() - this.since), complete }, 'bootstrap done: writes open');
      return true;
    }
    if (this.o.waitMs === 0 || this.o.clock.monoMs() - this.since >= this.o.waitMs) {
      this.opened = true;
      this.o.onOpenedIncomplete?.();
      this.o.log.warn({ waitMs: this.o.waitMs }, 'bootstrap not done within antiEntropy.bootstrapWriteWaitMs: writes open; what differs from the peers merges through the conflict path when they return');
      return true;
    }
    return false;
  }

  status(): { state: BootstrapState; writesOpen: boolean } {
    return { state: this.o.state(), writesOpen: this.isOpen() };
  }

  check(keyspace: KeyspaceConfig, partition: number): Authority {
    const a = this.inner.check(keyspace, partition);
    if (a.kind !== 'local' || this.isOpen()) return a;
    return {
      kind: 'unavailable', retryAfterMs: BOOTSTRAP_RETRY_AFTER_MS, code: 'bootstrapping',
      reason: 'this region\'s store started empty or came back with older data and is being checked against or rebuilt from its peers; writes open when that is done',
    };
  }

  activeRegion(keyspace: KeyspaceConfig, partition: number): string | undefined {
    return this.inner.activeRegion(keyspace, partition);
  }

  partitionState(keyspace: KeyspaceConfig, partition: number): string {
    const s = this.inner.partitionState(keyspace, partition);
    return s === 'active' && !this.isOpen() ? 'bootstrapping' : s;
  }

  mayResolve(keyspace: KeyspaceConfig, partition: number): boolean {
    return this.inner.mayResolve(keyspace, partition);
  }

  currentEpoch(keyspace: KeyspaceConfig, partition: number): number | undefined {
    return this.inner.currentEpoch?.(keyspace, partition);
  }
}
