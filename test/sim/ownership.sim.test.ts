import { describe, expect, it } from 'vitest';
import { runSeed, type SeedResult } from './chaos.js';
import { settledCluster, timeUntilHolder } from './scenarios.js';
import { WITNESS } from './cluster.js';

/** Replay one seed: GEOGATE_SIM_SEED=1234 npx vitest run --project unit test/sim */
const ONLY_SEED = process.env.GEOGATE_SIM_SEED ? Number(process.env.GEOGATE_SIM_SEED) : null;
const SEEDS = Number(process.env.GEOGATE_SIM_SEEDS ?? 2000);
const FIRST_SEED = Number(process.env.GEOGATE_SIM_FIRST_SEED ?? 1);
/** After a heal (everyone up, calm network) every fence partition is leased within this. */
const SETTLE_BOUND_MS = 6_000;

function report(r: SeedResult): string {
  return `seed ${r.seed} (replay with GEOGATE_SIM_SEED=${r.seed}): ${r.violation ?? `settled in ${r.settleMs} ms`}\n${r.trace.slice(-40).join('\n')}`;
}

describe('ownership protocol under a seeded fake network and drifting clocks', () => {
  it(`keeps at most one valid lease per fence partition and settles after heal (${ONLY_SEED ?? `${SEEDS} seeds`})`, async () => {
    const seeds = ONLY_SEED !== null ? [ONLY_SEED] : Array.from({ length: SEEDS }, (_, i) => FIRST_SEED + i);
    let worstSettleMs = 0;
    let grants = 0;
    for (const seed of seeds) {
      const r = await runSeed(seed);
      if (r.violation !== null || r.settleMs === null || r.settleMs > SETTLE_BOUND_MS) {
        console.error(report(r));
        expect.fail(`seed ${seed} failed: ${r.violation ?? `settle ${r.settleMs} ms > ${SETTLE_BOUND_MS} ms`} (GEOGATE_SIM_SEED=${seed})`);
      }
      worstSettleMs = Math.max(worstSettleMs, r.settleMs ?? 0);
      grants += r.grants;
    }
    console.info(`sim: ${seeds.length} seeds, ${grants} grants, worst settle ${worstSettleMs.toFixed(0)} ms`);
    expect(grants).toBeGreaterThan(0);
  }, 300_000);

  it('finds a violation when the drift margin is ignored (the checker can fail)', async () => {
    let found: SeedResult | null = null;
    for (let seed = 1; seed <= 3000 && !found; seed++) {
      const r = await runSeed(seed, { driftMarginMs: 0, driftRate: 0.25 });
      if (r.violation) found = r;
    }
    expect(found?.violation).toMatch(/two valid leases/);
  });

  it('moves nothing while only the witness is down: owners renew through peers', async () => {
    const sim = await settledCluster();
    const before = [0, 1, 2].map((p) => sim.holders(p));
    sim.crashWitness();
    let gaps = 0;
    await sim.runUntil(sim.nowMs + 20_000, () => {
      for (let p = 0; p < 3; p++) if (sim.holders(p).length !== 1) gaps++;
    });
    expect(sim.grants).toBe(0);
    expect(gaps).toBe(0);
    expect([0, 1, 2].map((p) => sim.holders(p))).toEqual(before);
  });

  it('fails a crashed region over within detection + leaseMs (≤ 2 s), 2 and 3 regions', async () => {
    for (const regions of [['a', 'b'], ['a', 'b', 'c']]) {
      const sim = await settledCluster({ regions, partitions: regions.length });
      expect(sim.holders(0)).toEqual(['a']);
      sim.crashRegion('a');
      const ms = await timeUntilHolder(sim, 0, 'a', 10_000);
      console.info(`failover ${regions.length} regions: ${ms?.toFixed(0)} ms`);
      expect(ms).not.toBeNull();
      expect(ms as number).toBeLessThanOrEqual(2_000);
    }
  });

  it('keeps fence partitions with their owner on a WAN cut the witness sees through', async () => {
    const sim = await settledCluster({ regions: ['a', 'b'], partitions: 2 });
    sim.net.cutBoth('a', 'b');
    await sim.runUntil(sim.nowMs + 10_000);
    expect(sim.grants).toBe(0);
    expect(sim.holders(0)).toEqual(['a']);
    expect(sim.holders(1)).toEqual(['b']);
  });

  it('an isolated region loses its leases before its partitions move, then fails back after heal', async () => {
    const sim = await settledCluster({ regions: ['a', 'b', 'c'], partitions: 3 });
    for (const n of ['b', 'c', WITNESS]) sim.net.cutBoth('a', n);
    const ms = await timeUntilHolder(sim, 0, 'a', 10_000);
    expect(ms).not.toBeNull();
    sim.net.heal();
    await sim.runUntil(sim.nowMs + 10_000);
    expect(sim.holders(0)).toEqual(['a']);
  });
});
