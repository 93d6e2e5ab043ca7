/**
 * Liveness under constant client load (issue 9, load.ts): every region's clients write every
 * partition every ~10 ms for the whole run; a region crashes and returns, is isolated, or is
 * cut from the other regions, then heals; the partitions it is preferred for must be leased
 * by it and acknowledging writes there again within failbackBoundMs of it being healthy,
 * while the load goes on. Safety (one valid lease, one acknowledging region per partition)
 * is checked at every step.
 *
 * Replay one seed: GEOGATE_SIM_SEED=1234 npx vitest run --project unit test/sim/liveness.sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { loadLiveness, type LoadFault, type LoadRunResult } from './load.js';

const ONLY_SEED = process.env.GEOGATE_SIM_SEED ? Number(process.env.GEOGATE_SIM_SEED) : null;
const SEEDS = Number(process.env.GEOGATE_SIM_LOAD_SEEDS ?? 8);
const seeds = ONLY_SEED !== null ? [ONLY_SEED] : Array.from({ length: SEEDS }, (_, i) => i + 1);
const TOPOLOGIES: Record<string, string[]> = { '2 regions + witness': ['a', 'b'], '3 regions + witness': ['a', 'b', 'c'] };
const FAULTS: Record<LoadFault, string> = {
  crash: 'the preferred region crashes and returns',
  isolate: 'the preferred region is cut from everyone (WAN split, witness on the other side), then healed',
  'wan-cut': 'the preferred region is cut from the other regions (the witness hears all), then healed',
};

function report(r: LoadRunResult): string {
  const what = r.violation ?? (r.failbackMs === null ? `the partitions preferred by ${r.victim} were not all back (leased and acknowledging there) within ${r.boundMs} ms of it being healthy` : `back after ${r.failbackMs.toFixed(0)} ms`);
  return `seed ${r.seed} (replay with GEOGATE_SIM_SEED=${r.seed}), ${r.regions.length} regions, ${r.fault} of ${r.victim}: ${what}\n${r.trace.slice(-30).join('\n')}`;
}

describe('liveness under constant client load (seeded)', () => {
  for (const [name, regions] of Object.entries(TOPOLOGIES)) {
    for (const [fault, title] of Object.entries(FAULTS) as Array<[LoadFault, string]>) {
      it(`${name}: ${title}: its partitions come back within the bound while writes go on (${ONLY_SEED ?? `${seeds.length} seeds`})`, async () => {
        const runs: LoadRunResult[] = [];
        for (const seed of seeds) {
          const r = await loadLiveness(seed, regions, fault);
          if (r.violation !== null || r.failbackMs === null) {
            console.error(report(r));
            expect.fail(report(r).split('\n')[0]);
          }
          // partitions the fault does not concern keep acknowledging all along: no lease of theirs lapses
          if (r.otherGapMsMax > 1500) {
            console.error(report(r));
            expect.fail(`seed ${seed} (GEOGATE_SIM_SEED=${seed}): a partition not preferred by ${r.victim} went ${r.otherGapMsMax.toFixed(0)} ms without an acknowledged write`);
          }
          expect(r.acks).toBeGreaterThan(r.issued / 2);
          runs.push(r);
        }
        const ms = runs.map((r) => r.failbackMs as number);
        const pause = runs.map((r) => r.pauseMsMax);
        console.info(`load ${name}, ${fault}: ${runs.length} runs, back after ${Math.min(...ms).toFixed(0)}..${Math.max(...ms).toFixed(0)} ms (bound ${runs[0]!.boundMs} ms), `
          + `longest write pause of a returning partition ${Math.max(...pause).toFixed(0)} ms, ${runs.reduce((n, r) => n + r.acks, 0)} acks of ${runs.reduce((n, r) => n + r.issued, 0)} writes, `
          + `${runs.reduce((n, r) => n + r.staleLandings, 0)} stale landings`);
        if (fault === 'wan-cut' && regions.length === 2) expect(runs.every((r) => r.grants === 0)).toBe(true); // the witness hears both: nothing moves
        else expect(runs.every((r) => r.grants >= 2)).toBe(true); // the partitions moved away and back
      }, 60_000);
    }
  }
});
