/**
 * WAN behaviour on real containers (2 regions + witness, relays on every link): a flapping
 * link, 50–150 ms of delay with the replication lag a client sees, and a split with writes on
 * both sides of the same keys that must merge on heal (conflicts journaled, nothing lost).
 * GEOGATE_GATEWAYS_PER_REGION=N runs them with N gateway instances per region.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEngine } from './harness/index.js';
import { GeoTopology, DIVERGE_KEYSPACE, FENCE_KEYSPACE, gatewaysPerRegionFromEnv } from './topology.js';
import { runScenario, type ScenarioRun } from './scenario.js';
import { measureLag, percentile } from '../checker/workload.js';

const { skip } = await requireEngine();

function expectClean(run: ScenarioRun): void {
  expect(run.settled.unsettled, run.report).toBeUndefined();
  expect(run.result.violations.map((v) => `${v.invariant} ${v.key}`), run.report).toEqual([]);
  expect(run.result.stats.acked, run.report).toBeGreaterThan(20);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cuts and heals, one every 3 s (4 cuts). */
const FLAPS = 8;

describe.skipIf(skip)('WAN: flapping, delay, split and merge (2 regions + witness)', () => {
  let topo: GeoTopology;

  beforeAll(async () => {
    // GEOGATE_GATEWAYS_PER_REGION=N: N gateway instances per region (default 1; docs/testing.md)
    topo = await GeoTopology.create({ name: 'wan', gatewaysPerRegion: gatewaysPerRegionFromEnv() });
  });
  afterAll(async () => {
    await topo?.close();
  });

  it('flapping WAN: east<->west cut and healed every 3 s for 24 s', async () => {
    let crossCut = false;
    let flaps = 0;
    const run = await runScenario(topo, {
      name: 'flap', durationMs: 28_000, canReach: (from, to) => !(crossCut && from !== to),
      fault: async ({ topo: t, at }) => {
        for (let i = 0; i < FLAPS; i++) {
          await at(2000 + i * 3000);
          if (i % 2 === 0) {
            crossCut = true;
            await t.cutLink('east', 'west');
          } else {
            await t.healAll();
            crossCut = false;
          }
          flaps++;
        }
        await t.healAll();
        crossCut = false;
      },
    });
    expect(flaps).toBe(FLAPS);
    expectClean(run);
  });

  it('50-150 ms WAN delay: workload is clean, replication lag measured both ways', async () => {
    const lags: Record<string, number[]> = {};
    const run = await runScenario(topo, {
      name: 'delay', durationMs: 12_000, clientsPerRegion: 1,
      fault: async ({ topo: t }) => {
        await t.setDelay(50, 100);
        await sleep(500);
        const [east, west] = t.targets();
        if (!east || !west) throw new Error('two regions expected');
        const common = { keyspace: DIVERGE_KEYSPACE, keyPrefix: `delay-${Date.now().toString(36)}`, samples: 40, timeoutMs: 5000 };
        lags['east->west'] = await measureLag({ ...common, from: east, to: west });
        lags['west->east'] = await measureLag({ ...common, keyPrefix: `${common.keyPrefix}w`, from: west, to: east });
      },
    });
    for (const [dir, samples] of Object.entries(lags)) {
      const p50 = percentile(samples, 50);
      const p99 = percentile(samples, 99);
      console.log(`[lag] ${dir}: n=${samples.length} p50=${p50.toFixed(1)} ms p99=${p99.toFixed(1)} ms max=${Math.max(...samples).toFixed(1)} ms`);
      expect(samples.every(Number.isFinite), `${dir}: a write never became visible`).toBe(true);
      // one way is 50–150 ms through the relay: the write cannot be visible sooner than 50 ms
      expect(p50).toBeGreaterThanOrEqual(50);
      expect(p99).toBeLessThan(1500);
    }
    expectClean(run);
  });

  it('split, writes on both sides of the same keys, heal, merge', async () => {
    let crossCut = false;
    const conflictKeys: string[] = [];
    const run = await runScenario(topo, {
      name: 'merge', durationMs: 14_000, canReach: (from, to) => !(crossCut && from !== to),
      fault: async ({ topo: t, at, workload }) => {
        await at(2000);
        crossCut = true;
        await t.cutLink('east', 'west');
        await sleep(1500); // both sides have detected the split
        // the same diverge keys written on both sides during the split: conflicts on heal
        for (let i = 0; i < 4; i++) {
          const key = `merge-split-${i}`;
          conflictKeys.push(key);
          await workload.write('split-east', 'east', DIVERGE_KEYSPACE, key, `split:east:${i}`);
          await workload.write('split-west', 'west', DIVERGE_KEYSPACE, key, `split:west:${i}`);
          await workload.write('split-east', 'east', FENCE_KEYSPACE, key, `split:east:${i}`);
          await workload.write('split-west', 'west', FENCE_KEYSPACE, key, `split:west:${i}`);
        }
        await at(9000);
        await t.healAll();
        crossCut = false;
      },
    });
    expectClean(run);
    const splitWrites = run.history.ops.filter((o) => o.client.startsWith('split-') && o.keyspace === DIVERGE_KEYSPACE);
    expect(splitWrites.filter((o) => o.status === 'ok').length, run.report).toBe(8);
    // every diverge key written on both sides is in a region's conflict journal
    for (const key of conflictKeys) {
      const entries = run.settled.journal.filter((j) => j.keyspace === DIVERGE_KEYSPACE && j.key === key);
      expect(entries.length, `${key} not journaled\n${run.report}`).toBeGreaterThan(0);
    }
  });
});
