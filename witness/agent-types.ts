import type { ConfirmRequest, GrantRequest, HeartbeatRequest } from './protocol.js';

export type LinkState = 'up' | 'suspect' | 'down';

/** What the gateway's write path may do with a partition right now. */
export type Authority =
  | { readonly kind: 'owner'; readonly epoch: number; readonly leaseRemainingMs: number }
  | { readonly kind: 'redirect'; readonly region: string; readonly epoch: number }
  | { readonly kind: 'unavailable'; readonly retryAfterMs: number; readonly reason: string }
  /** `onSplit: diverge` partition cut off from its owner or majority: take writes, merge on heal. */
  | { readonly kind: 'diverged'; readonly owner: string; readonly epoch: number };

/** How this region sees one peer (failure classification from the three signals). */
export type PeerClass =
  | 'connected'
  | 'wan-cut' // peer silent to us, witness hears it: split, fence partitions stay put
  | 'peer-dead' // peer silent to us and to the witness: take over after its lease
  | 'isolated' // we hear nobody: our fence leases run out
  | 'unknown'; // peer silent, witness unreachable: do nothing

/** Messages the agent wants sent now; replies come back through the agent's `on*` methods. */
export interface Outbox {
  readonly confirms: ReadonlyArray<{ readonly voter: string; readonly request: ConfirmRequest }>;
  readonly grants: readonly GrantRequest[];
  readonly heartbeat: HeartbeatRequest | null;
}

export interface AgentHooks {
  /**
   * Failback pre-check the gateway implements (cheap, synchronous): `region` is close enough
   * behind that a handover with a short write pause can start. The exact check happens during
   * the pause (see `onReleaseBegun`).
   */
  isCaughtUp?(keyspace: string, partition: number, region: string): boolean;
  /**
   * A handover of (keyspace, partition) to `target` began: the agent stopped writes and
   * renewals of it. The gateway drains it (in-flight writes done, `target` acked the log
   * through them, digests equal) and calls `releaseDrained`, or `abortRelease` on failure.
   * Without this hook a release counts as drained at once (nothing to drain: simulations).
   */
  onReleaseBegun?(keyspace: string, partition: number, target: string, epoch: number): void;
  /** Lease extended: set the partition's fence key with PX = leaseRemainingMs. */
  onLeaseRenewed?(keyspace: string, partition: number, epoch: number, leaseRemainingMs: number): void;
  /** Owner or epoch learnt (persist it to seed `initialOwners` after a restart). */
  onOwnerChanged?(keyspace: string, partition: number, owner: string, epoch: number): void;
}
