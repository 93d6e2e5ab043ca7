/**
 * A released failback of an old coordinator term, in the seeded simulation (the real
 * OwnershipAgent and WitnessCore). Regions a and b; b took partition p over while a was
 * down; a is back and b's coordinator of term 1 hands p back: it stops, drains and sends the
 * released request, which the WAN holds up for leaseMs + 400 ms. Right then b changes
 * coordinator (term 2: the old one lost its lease) and the link a-b is cut, so b's new
 * coordinator renews p through the witness alone and writes on. The old request then
 * arrives, and from then on the witness's answers to b are lost (b cannot learn a newer epoch
 * from a refused renewal before its lease ends). Checked at every step: at most one valid lease per partition (SimCluster.check).
 *
 * Replay one seed: GEOGATE_SIM_SEED=12 npx vitest run --project unit test/sim/coordinator-term.sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { SIM_DEFAULTS, SimCluster } from './cluster.js';
import { timeUntilHolder } from './scenarios.js';

const ONLY_SEED = process.env.GEOGATE_SIM_SEED ? Number(process.env.GEOGATE_SIM_SEED) : null;
const SEEDS = Number(process.env.GEOGATE_SIM_TERM_SEEDS ?? 40);

async function run(seed: number): Promise<{ held: boolean; owner: string; epoch: number; termAtWitness: number }> {
  const sim = new SimCluster({ ...SIM_DEFAULTS, regions: ['a', 'b'], partitions: 2, seed });
  sim.regions.get('b')!.term = 1;
  sim.start();
  await sim.runUntil(5_000);
  const p = [...sim.topology.partitions.values()].find((s) => s.nodes[0] === 'a')!.partition;
  sim.crashRegion('a');
  expect(await timeUntilHolder(sim, p, 'a', 10_000), `seed ${seed}: b took ks/${p} over`).not.toBeNull();
  sim.startRegion('a');
  let held = false;
  sim.onGrantSent = (from, g) => {
    if (from !== 'b' || g.released !== true || g.partition !== p || held) return undefined;
    held = true;
    const heldMs = SIM_DEFAULTS.leaseMs + 400;
    sim.q.push(sim.nowMs + 1, () => { sim.net.cutBoth('a', 'b'); sim.changeCoordinator('b'); });
    // from just before it arrives, the witness's answers to b are lost: b does not learn of a
    // grant from a refused renewal and holds the lease it has until its end
    sim.q.push(sim.nowMs + heldMs - 1, () => sim.net.cut('witness', 'b'));
    return heldMs;
  };
  try {
    await sim.runUntil(sim.nowMs + 15_000);
  } catch (err) {
    throw new Error(`seed ${seed}: ${(err as Error).message}\n${sim.trace.slice(-30).join('\n')}`);
  }
  const o = sim.witness!.ownerOf(`ks/${p}`);
  return { held, owner: o.owner, epoch: o.epoch, termAtWitness: sim.witness!.termOf('b') };
}

describe('a released failback of an old coordinator term (seeded)', () => {
  it(`is refused once the region's next coordinator renewed: one lease at a time (${ONLY_SEED ?? `${SEEDS} seeds`})`, async () => {
    const seeds = ONLY_SEED !== null ? [ONLY_SEED] : Array.from({ length: SEEDS }, (_, i) => i + 1);
    for (const seed of seeds) {
      const r = await run(seed);
      expect(r.held, `seed ${seed}: b sent a released failback`).toBe(true);
      // the old term's request was refused: b (term 2) keeps the partition while cut from a
      expect(r, `seed ${seed}`).toMatchObject({ owner: 'b', epoch: 1, termAtWitness: 2 });
    }
  }, 120_000);
});
