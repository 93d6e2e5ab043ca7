/** Bounded, jittered exponential backoff for re-dialling a peer. Pure: randomness is passed in. */

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = full jitter). */
  readonly jitter: number;
  /**
   * Cap while the peer cannot be reached at all (no connection opened): a region coming back
   * after a crash is dialled again within this long, so its link — and the failback that waits
   * for it — is not held up by a backoff grown while it was down. Refusals after a connection
   * opened (handshake, settings, certificate) keep `maxMs`.
   */
  readonly unreachableMaxMs?: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 0.5, unreachableMaxMs: 1_000 });

/** The options for the next delay: capped at `unreachableMaxMs` when the last attempt never opened. */
export function backoffFor(options: BackoffOptions, unreachable: boolean): BackoffOptions {
  if (!unreachable || options.unreachableMaxMs === undefined) return options;
  return { ...options, maxMs: Math.min(options.maxMs, options.unreachableMaxMs) };
}

/** Delay before attempt number `attempt` (0-based); never above `maxMs`, never below 0. */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.min(Math.max(0, attempt), 64);
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** exponent);
  const jittered = base * (1 - options.jitter * random());
  return Math.max(0, Math.min(options.maxMs, Math.round(jittered)));
}
