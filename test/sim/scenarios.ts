import { SIM_DEFAULTS, SimCluster, type SimOptions } from './cluster.js';

/** A calm cluster, started and settled (every partition leased). */
export function settledCluster(overrides: Partial<SimOptions> = {}, seed = 1): SimCluster {
  const sim = new SimCluster({ ...SIM_DEFAULTS, ...overrides, seed });
  sim.start();
  sim.runUntil(5_000);
  return sim;
}

/** Real ms from `fromMs` until partition p has a holder other than `not` (null: not within `withinMs`). */
export function timeUntilHolder(sim: SimCluster, p: number, not: string, withinMs: number): number | null {
  const fromMs = sim.nowMs;
  let at: number | null = null;
  sim.runUntil(fromMs + withinMs, () => {
    if (at !== null) return;
    const h = sim.holders(p);
    if (h.length === 1 && h[0] !== not) at = sim.nowMs;
  });
  return at === null ? null : at - fromMs;
}
