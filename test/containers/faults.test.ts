/**
 * Region and site faults on real containers, two regions + witness, every cross-site link
 * through a WAN relay. Each scenario runs the workload through the fault, heals, lets the
 * regions settle and checks the history (test/checker). One topology per describe; every
 * scenario starts from `reset()` (all containers running, relays healed, links up) and uses
 * its own keys.
 *
 * Every scenario runs on a topology of GEOGATE_GATEWAYS_PER_REGION gateway instances per
 * region (default 1; a "region crash" kills all of them). Besides, with one instance, the
 * scenarios of TWO_INSTANCE_SCENARIOS run on a topology of 2 instances per region, the
 * workload's clients spread over both (docs/testing.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEngine } from './harness/index.js';
import { GeoTopology, DIVERGE_KEYSPACE, FENCE_KEYSPACE, gatewaysPerRegionFromEnv } from './topology.js';
import { runScenario, tally, type ScenarioRun } from './scenario.js';

const { skip } = await requireEngine();

/** Clients of a region cannot follow redirects into a region cut off from them. */
function reach(cut: Set<string>) {
  return (from: string, to: string) => !cut.has(from) && !cut.has(to);
}

function expectClean(run: ScenarioRun): void {
  expect(run.settled.unsettled, run.report).toBeUndefined();
  expect(run.result.violations.map((v) => `${v.invariant} ${v.key}`), run.report).toEqual([]);
  expect(run.result.stats.acked, run.report).toBeGreaterThan(20);
  // with several instances per region, the writes went through every one of them
  if (run.instances.length > 2) for (const id of run.instances) expect(run.acksByInstance.get(id) ?? 0, `${id}: ${JSON.stringify([...run.acksByInstance])}`).toBeGreaterThan(0);
}

const ackedAt = (run: ScenarioRun, region: string, keyspace: string, fromMs: number, toMs: number) => {
  const t0 = run.history.ops[0]?.invokeMs ?? 0;
  return tally(run.history, (o) => o.kind !== 'read' && o.status === 'ok' && o.ackRegion === region && o.keyspace === keyspace
    && o.invokeMs - t0 >= fromMs && (o.completeMs ?? Infinity) - t0 <= toMs);
};

type Scenario = (topo: GeoTopology) => Promise<void>;

/** The scenarios by name: [title, body]. */
const SCENARIOS: Record<string, [string, Scenario]> = {
  baseline: ['baseline: no fault', async (topo) => {
    const run = await runScenario(topo, { name: 'baseline', durationMs: 5000 });
    expectClean(run);
    expect(run.result.stats.unknown, run.report).toBe(0);
  }],

  crash: ['region crash: west gateway killed (every instance), then started again', async (topo) => {
    const run = await runScenario(topo, {
      name: 'crash', durationMs: 14_000, asyncFailover: true, // a killed owner's last acks may not have replicated (async)
      fault: async ({ topo: t, at }) => {
        await at(2000);
        for (const g of t.gateways('west')) await t.lab.kill(g);
        await at(8000);
        for (const g of t.gateways('west')) await t.lab.startAgain(g);
        await t.refreshIps();
      },
    });
    expectClean(run);
    // east keeps taking diverge writes while west is down
    expect(ackedAt(run, 'east', DIVERGE_KEYSPACE, 3000, 8000), run.report).toBeGreaterThan(0);
  }],

  isolated: ['region isolated: every WAN link of west cut (peers and witness)', async (topo) => {
    const cut = new Set<string>();
    const run = await runScenario(topo, {
      // west acknowledges fence writes until its lease ends; they cannot replicate (async keyspace)
      name: 'isolated', durationMs: 16_000, canReach: reach(cut), asyncFailover: true,
      fault: async ({ topo: t, at }) => {
        await at(2000);
        cut.add('west');
        await t.isolate('west');
        await at(11_000);
        await t.healAll();
        cut.delete('west');
      },
    });
    console.log(`[isolated] ${run.result.stats.failoverLosers} acked fence writes of west superseded by the failover (journaled)`);
    expectClean(run);
    expect(ackedAt(run, 'east', DIVERGE_KEYSPACE, 3000, 11_000), run.report).toBeGreaterThan(0);
    expect(ackedAt(run, 'west', DIVERGE_KEYSPACE, 3000, 11_000), run.report).toBeGreaterThan(0);
  }],

  wancut: ['WAN cut east<->west, witness reachable from both', async (topo) => {
    const cut = new Set<string>();
    let crossCut = false;
    const run = await runScenario(topo, {
      name: 'wancut', durationMs: 14_000, canReach: (from, to) => !(crossCut && from !== to) && !cut.has(to),
      fault: async ({ topo: t, at }) => {
        await at(2000);
        crossCut = true;
        await t.cutLink('east', 'west');
        await at(10_000);
        await t.healAll();
        crossCut = false;
      },
    });
    expectClean(run);
    // diverge partitions keep taking writes on both sides of the split
    expect(ackedAt(run, 'east', DIVERGE_KEYSPACE, 3000, 10_000), run.report).toBeGreaterThan(0);
    expect(ackedAt(run, 'west', DIVERGE_KEYSPACE, 3000, 10_000), run.report).toBeGreaterThan(0);
  }],

  oneway: ['one-way cut: bytes east->west dropped, west->east flowing', async (topo) => {
    const run = await runScenario(topo, {
      name: 'oneway', durationMs: 14_000,
      fault: async ({ topo: t, at }) => {
        await at(2000);
        await t.cutOneWay('east', 'west');
        await at(10_000);
        await t.healAll();
      },
    });
    expectClean(run);
  }],

  witness: ['witness crash and restart: owners keep their partitions', async (topo) => {
    const run = await runScenario(topo, {
      name: 'witness', durationMs: 14_000,
      fault: async ({ topo: t, at }) => {
        await at(2000);
        await t.lab.kill(t.witness);
        await at(9000);
        await t.lab.startAgain(t.witness);
        await t.refreshIps();
      },
    });
    expectClean(run);
    // losing only the witness never stops the fence keyspace (owners renew through peers)
    const fenceAcked = ackedAt(run, 'east', FENCE_KEYSPACE, 4000, 9000) + ackedAt(run, 'west', FENCE_KEYSPACE, 4000, 9000);
    expect(fenceAcked, run.report).toBeGreaterThan(0);
  }],

  redis: ['Redis restart inside a region (AOF kept)', async (topo) => {
    const run = await runScenario(topo, {
      name: 'redis', durationMs: 14_000,
      fault: async ({ topo: t, at }) => {
        await at(3000);
        await t.lab.restart(t.redis('east'));
        await t.refreshIps();
      },
    });
    expectClean(run);
    expect(ackedAt(run, 'east', DIVERGE_KEYSPACE, 9000, 14_000), run.report).toBeGreaterThan(0);
  }],

  'frozen-owner': ['owner\'s Redis paused 1.5 s, owner cut from its peer and the witness 300 ms after: west takes over, no split-brain, no lost write', async (topo) => {
    const cut = new Set<string>();
    let frozenAt = 0;
    let cutAt = 0;
    const run = await runScenario(topo, {
      // a renewal confirmed between the pause and the cut can carry east's lease past the unpause (async keyspace)
      name: 'frozen-owner', durationMs: 12_000, canReach: reach(cut), clientsPerRegion: 4, asyncFailover: true,
      fault: async ({ topo: t, at, t0 }) => {
        await at(2000);
        frozenAt = Date.now() - t0;
        await t.lab.pause(t.redis('east'));
        await at(2300);
        cut.add('east');
        cutAt = Date.now() - t0;
        await t.isolate('east');
        await at(3500);
        await t.lab.unpause(t.redis('east'));
        await at(8000);
        await t.healAll();
        cut.delete('east');
      },
    });
    const t0 = run.history.ops[0]?.invokeMs ?? 0;
    const eastLate = tally(run.history, (o) => o.keyspace === FENCE_KEYSPACE && o.kind !== 'read' && (o.ackRegion ?? o.region) === 'east'
      && o.invokeMs - t0 < 3500 && (o.completeMs ?? Infinity) - t0 > 3500);
    console.log(`[frozen-owner] paused at ${frozenAt} ms, cut at ${cutAt} ms; east fence writes across the pause: ${eastLate}`);
    expectClean(run);
    // the takeover happened under the checker's eyes: west acknowledged fence writes while east was cut off
    expect(ackedAt(run, 'west', FENCE_KEYSPACE, 3000, 8000), run.report).toBeGreaterThan(0);
  }],
};

/** Run with 2 instances per region in the default suite too (each costs about a minute; docs/testing.md). */
const TWO_INSTANCE_SCENARIOS: readonly string[] = ['wancut'];

function faultSuite(gatewaysPerRegion: number, names: readonly string[]): void {
  describe.skipIf(skip)(`region and site faults (2 regions + witness, ${gatewaysPerRegion} gateway instance(s) per region)`, () => {
    let topo: GeoTopology;
    beforeAll(async () => {
      topo = await GeoTopology.create({ name: gatewaysPerRegion === 1 ? 'faults' : `faults-x${gatewaysPerRegion}`, gatewaysPerRegion });
    });
    afterAll(async () => {
      await topo?.close();
    });
    for (const name of names) {
      const [title, run] = SCENARIOS[name]!;
      it(title, () => run(topo));
    }
  });
}

const perRegion = gatewaysPerRegionFromEnv();
faultSuite(perRegion, Object.keys(SCENARIOS));
if (perRegion === 1) faultSuite(2, TWO_INSTANCE_SCENARIOS);
