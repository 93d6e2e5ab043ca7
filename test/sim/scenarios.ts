import { SIM_DEFAULTS, SimCluster, Violation, type SimOptions } from './cluster.js';
import { isolate } from './chaos.js';
import { FENCE_DEFAULTS, type FenceModelOptions } from './store.js';

/** A calm cluster, started and settled (every partition leased). */
export async function settledCluster(overrides: Partial<SimOptions> = {}, seed = 1): Promise<SimCluster> {
  const sim = new SimCluster({ ...SIM_DEFAULTS, ...overrides, seed });
  sim.start();
  await sim.runUntil(5_000);
  return sim;
}

/** Real ms from `fromMs` until partition p has a holder other than `not` (null: not within `withinMs`). */
export async function timeUntilHolder(sim: SimCluster, p: number, not: string, withinMs: number): Promise<number | null> {
  const fromMs = sim.nowMs;
  let at: number | null = null;
  await sim.runUntil(fromMs + withinMs, () => {
    if (at !== null) return;
    const h = sim.holders(p);
    if (h.length === 1 && h[0] !== not) at = sim.nowMs;
  });
  return at === null ? null : at - fromMs;
}

export interface FrozenOwnerResult {
  readonly seed: number;
  readonly violation: string | null;
  /** Real ms from the freeze until another region acknowledged a write of partition 0 (null: never). */
  readonly takeoverAckMs: number | null;
  /** Writes of the old owner answered after its Redis resumed: refused by the store, or 503 write_outcome_unknown. */
  readonly oldOwnerRefused: number;
  readonly oldOwnerUnknown: number;
  readonly acks: number;
  readonly trace: readonly string[];
}

/**
 * Issue 9's split-brain as a seeded scenario: writes flowing, the owner of partition 0 ('a')
 * has its Redis frozen for `freezeMs` (1.2–1.8 s by default, drawn from the seed) and, `cutAfterMs`
 * (200–400 ms) after it froze, is cut from its peers and the witness; another region takes
 * partition 0 over and acknowledges writes; the Redis resumes with the renewals and writes
 * queued behind the stall; later the network heals. Violations are checked at every step.
 */
export async function frozenOwnerTakeover(seed: number, regions: readonly string[], fence: Partial<FenceModelOptions> = {}): Promise<FrozenOwnerResult> {
  const sim = new SimCluster({ ...SIM_DEFAULTS, regions, partitions: regions.length, fence: { ...FENCE_DEFAULTS, ...fence }, seed });
  let violation: string | null = null;
  let takeoverAckMs: number | null = null;
  let before = { refused: 0, unknown: 0 };
  let freezeAt = 0;
  try {
    sim.start();
    await sim.runUntil(5_000);
    if (sim.holders(0).join() !== 'a') throw new Error(`seed ${seed}: partition 0 is held by [${sim.holders(0).join()}] before the freeze, not by a`);
    const freezeMs = 1200 + sim.random() * 600;
    const cutAfterMs = 200 + sim.random() * 200;
    freezeAt = sim.nowMs;
    const gw = sim.regions.get('a')!.gateway!;
    sim.freezeStore('a', freezeMs);
    sim.q.push(freezeAt + cutAfterMs, () => isolate(sim, 'a'));
    sim.q.push(freezeAt + freezeMs - 1, () => { before = { refused: gw.refused, unknown: gw.unknown }; });
    await sim.runUntil(freezeAt + 8_000, () => {
      const s = sim.fenceSeen[0]!;
      if (takeoverAckMs === null && s.ackedBy !== null && s.ackedBy !== 'a') takeoverAckMs = sim.nowMs - freezeAt;
    });
    sim.net.heal();
    sim.log('heal');
    await sim.runUntil(sim.nowMs + 6_000);
    return { seed, violation, takeoverAckMs, oldOwnerRefused: gw.refused - before.refused, oldOwnerUnknown: gw.unknown - before.unknown, acks: sim.fenceSeen.reduce((n, s) => n + s.acks, 0), trace: sim.trace };
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
    violation = err.message;
  }
  return { seed, violation, takeoverAckMs, oldOwnerRefused: 0, oldOwnerUnknown: 0, acks: sim.fenceSeen.reduce((n, s) => n + s.acks, 0), trace: sim.trace };
}
