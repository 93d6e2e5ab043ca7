/**
 * Write authority by role: the coordinator's comes from its witness agent (leases), another
 * instance's from what it can know without one.
 */
import type { Authority, WriteAuthority } from '../authority.js';
import type { KeyspaceConfig } from '../config.js';

/** Asks whichever authority `current()` names at each call (the role may change between two). */
export function delegatingAuthority(current: () => WriteAuthority): WriteAuthority {
  return {
    check: (ks, p) => current().check(ks, p),
    activeRegion: (ks, p) => current().activeRegion(ks, p),
    partitionState: (ks, p) => current().partitionState(ks, p),
    mayResolve: (ks, p) => current().mayResolve(ks, p),
    currentEpoch: (ks, p) => current().currentEpoch?.(ks, p),
  };
}

/** How long a client is told to wait before retrying a write this instance cannot judge. */
export const NOT_COORDINATOR_RETRY_AFTER_MS = 200;

/**
 * An instance without the witness agent (not the coordinator) in a region with a witness:
 * it has no lease to judge a write by, so it refuses writes (503, naming the coordinator)
 * and resolves nothing; reads and their staleness follow the static node lists.
 */
export function notCoordinatorAuthority(fallback: WriteAuthority, coordinatorUrl: () => string | undefined): WriteAuthority {
  return {
    check: (_ks: KeyspaceConfig, _p: number): Authority => ({
      kind: 'unavailable', retryAfterMs: NOT_COORDINATOR_RETRY_AFTER_MS, code: 'not_coordinator',
      reason: `this instance does not hold the region's ownership leases; the coordinator ${coordinatorUrl() ?? '(being elected)'} takes the write`,
    }),
    activeRegion: (ks, p) => fallback.activeRegion(ks, p),
    partitionState: () => 'unknown',
    mayResolve: () => false,
  };
}
