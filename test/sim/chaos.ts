import { CALM } from './network.js';
import { SIM_DEFAULTS, SimCluster, Violation, WITNESS, type SimOptions } from './cluster.js';

export interface SeedResult {
  readonly seed: number;
  readonly violation: string | null;
  /** ms after the heal until every partition had a valid lease at once (null: never). */
  readonly settleMs: number | null;
  readonly events: number;
  readonly grants: number;
  /** See SimCluster.staleLandings. */
  readonly staleLandings: number;
  /** Fence batches the stores failed (FenceModelOptions.fenceBatchFailRate). */
  readonly fenceBatchesFailed: number;
  readonly trace: readonly string[];
}

export const CHAOS_MS = 15_000;
export const HEAL_MS = 8_000;

/** One random fault: crashes and restarts, cuts (both ways, one way), isolation, lossy links. */
function injectFault(sim: SimCluster): void {
  const rnd = sim.random;
  const nodes = [...sim.o.regions, WITNESS];
  const pick = () => nodes[Math.floor(rnd() * nodes.length)] as string;
  if (sim.o.fence && rnd() < 0.3) {
    freezeThenMaybeIsolate(sim);
    return;
  }
  const roll = rnd();
  const node = pick();
  if (roll < 0.2) {
    if (node === WITNESS) sim.crashWitness();
    else sim.crashRegion(node);
    const downMs = 200 + rnd() * 5000;
    sim.q.push(Math.min(sim.nowMs + downMs, CHAOS_MS), () => (node === WITNESS ? sim.witness ?? sim.startWitness() : sim.startRegion(node)));
  } else if (roll < 0.4) {
    const other = pick();
    if (other !== node) sim.net.cutBoth(node, other);
    sim.log(`cut ${node}<>${other}`);
  } else if (roll < 0.55) {
    const other = pick();
    if (other !== node) sim.net.cut(node, other);
    sim.log(`cut ${node}>${other}`);
  } else if (roll < 0.65) {
    for (const other of nodes) if (other !== node) sim.net.cutBoth(node, other);
    sim.log(`isolate ${node}`);
  } else if (roll < 0.8) {
    sim.net.heal();
    sim.log('heal links');
  } else {
    sim.net.faults = {
      dropRate: rnd() * 0.3,
      duplicateRate: rnd() * 0.2,
      delayMinMs: 1 + rnd() * 20,
      delayMaxMs: 30 + rnd() * 400,
    };
    sim.log(`faults ${JSON.stringify(sim.net.faults)}`);
  }
}

/**
 * A region's Redis frozen for 0.2–2.5 s; half the time the region is also isolated (peers
 * and witness) a few hundred ms after it froze, so its partitions move while its Redis
 * still holds queued renewals and writes (the split-brain of issue 9).
 */
function freezeThenMaybeIsolate(sim: SimCluster): void {
  const rnd = sim.random;
  const r = sim.o.regions[Math.floor(rnd() * sim.o.regions.length)] as string;
  sim.freezeStore(r, 200 + rnd() * 2300);
  if (rnd() < 0.5) {
    sim.q.push(Math.min(sim.nowMs + 100 + rnd() * 500, CHAOS_MS), () => isolate(sim, r));
  }
}

export function isolate(sim: SimCluster, r: string): void {
  for (const other of [...sim.o.regions, WITNESS]) if (other !== r) sim.net.cutBoth(r, other);
  sim.log(`isolate ${r}`);
}

/** A chaos phase, then a heal phase (all up, calm network) that must settle in bounded time. */
export async function runSeed(seed: number, overrides: Partial<SimOptions> = {}): Promise<SeedResult> {
  const sim = new SimCluster({ ...SIM_DEFAULTS, ...overrides, seed });
  sim.start();
  let violation: string | null = null;
  let settleMs: number | null = null;
  try {
    let t = 0;
    for (;;) {
      t += 200 + sim.random() * 1800;
      if (t >= CHAOS_MS) break;
      sim.q.push(t, () => injectFault(sim));
    }
    await sim.runUntil(CHAOS_MS);
    sim.net.heal();
    sim.net.faults = { ...CALM };
    if (!sim.witness) sim.startWitness();
    for (const r of sim.o.regions) sim.startRegion(r);
    sim.log('heal all');
    const healAt = sim.nowMs;
    await sim.runUntil(healAt + HEAL_MS, () => {
      if (settleMs !== null) return;
      for (let p = 0; p < sim.o.partitions; p++) if (sim.holders(p).length !== 1) return;
      settleMs = sim.nowMs - healAt;
    });
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
    violation = err.message;
  }
  const fenceBatchesFailed = [...sim.stores.values()].reduce((n, st) => n + st.fenceBatchesFailed, 0);
  return { seed, violation, settleMs, events: sim.events, grants: sim.grants, staleLandings: sim.staleLandings, fenceBatchesFailed, trace: sim.trace };
}
