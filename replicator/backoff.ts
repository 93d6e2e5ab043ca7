/** Bounded, jittered exponential backoff for re-dialling a peer. Pure: randomness is passed in. */

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = full jitter). */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 0.5 });

/** Delay before attempt number `attempt` (0-based); never above `maxMs`, never below 0. */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.min(Math.max(0, attempt), 64);
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** exponent);
  const jittered = base * (1 - options.jitter * random());
  return Math.max(0, Math.min(options.maxMs, Math.round(jittered)));
}
