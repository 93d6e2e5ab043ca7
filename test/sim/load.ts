/**
 * Liveness under constant client load (issue 9): every region's clients keep writing every
 * partition (SimCluster.startLoad) while a region crashes and returns, or is cut off and
 * healed; the partitions it is preferred for must come back to it — leased by it, and
 * acknowledging writes there — within a bound derived from the code's constants, while the
 * load goes on. Safety (one valid lease, one acknowledging region per partition) is checked
 * at every step as everywhere in the simulation.
 */
import { HANDOVER_DRAIN_MS_MAX } from '../../gateway/ownership/handover.js';
import { DEFAULT_HANDOVER_MIN_OWNED_MS } from '../../witness/agent.js';
import { SIM_DEFAULTS, SimCluster, Violation, WITNESS, type SimOptions } from './cluster.js';
import { CALM } from './network.js';
import { FENCE_DEFAULTS, type FenceModelOptions } from './store.js';

/** Each region's clients write each partition once every this many ms (0.5–1.5× jitter). */
export const LOAD_EVERY_MS = 10;
export const LOAD_SETTLE_MS = 5_000;
/** After the failback completed, the load goes on this long (the partitions must stay put). */
export const LOAD_TAIL_MS = 2_000;

export type LoadFault =
  /** The victim's gateway crashes (its Redis stays) and restarts. */
  | 'crash'
  /** The victim is cut from every other region and from the witness, then healed. */
  | 'isolate'
  /** The victim is cut from every other region (the witness hears all), then healed. */
  | 'wan-cut';

/**
 * From the instant the returning region is healthy (restarted or healed, and the
 * hysteresis of the last ownership change over) until every partition it is preferred for
 * is leased by it and it acknowledged a write of it: each step of a failback at its bound.
 *  - the owner hears it again: one heartbeat period + one-way delay;
 *  - the handover's pre-check: its link up for `leaseMs` (targetUpMsMin: its boot quiet
 *    period), the witness's heartbeat reply saying it is viable (`leaseMs / 3` + a round trip),
 *    the next tick;
 *  - the drain: at most HANDOVER_DRAIN_MS_MAX (gateway/ownership/handover.ts);
 *  - the released request and the grant: a round trip (the request goes out at once);
 *  - the hint to the new owner (one way), its first renewal round (a round trip), one
 *    acquire retry (`leaseMs / 10`);
 *  - the first acknowledgement: the fence set on the next tick, the next client write,
 *    a store round trip;
 * all on clocks that run up to `driftRate` slow.
 */
export function failbackBoundMs(o: SimOptions, fence: FenceModelOptions, loadEveryMs = LOAD_EVERY_MS): number {
  const d = CALM.delayMaxMs;
  const tick = 1.5 * o.tickMs;
  const detect = o.heartbeatMs + d;
  const precheck = o.leaseMs + o.leaseMs / 3 + 2 * d + tick;
  const grant = 2 * d;
  const lease = d + 2 * d + o.leaseMs / 10;
  const firstAck = tick + 1.5 * loadEveryMs + 2 * fence.storeDelayMaxMs;
  return Math.ceil((detect + precheck + HANDOVER_DRAIN_MS_MAX + grant + lease + firstAck) * (1 + o.driftRate));
}

/** A partition is not handed back within this of the last change of its owner (the agent's minimum and the witness's hysteresis). */
export function hysteresisMs(o: SimOptions): number {
  return Math.max(DEFAULT_HANDOVER_MIN_OWNED_MS + 2 * CALM.delayMaxMs, o.minOwnershipChangeIntervalMs);
}

export interface LoadRunResult {
  readonly seed: number;
  readonly regions: readonly string[];
  readonly fault: LoadFault;
  readonly victim: string;
  readonly violation: string | null;
  /** Real ms from the healthy instant until the victim's last partition was back (null: not within the bound). */
  readonly failbackMs: number | null;
  readonly boundMs: number;
  /** Longest gap between two acknowledgements of a victim's partition after the healthy instant (the handover's write pause). */
  readonly pauseMsMax: number;
  /** Longest gap between acknowledgements of a partition not preferred by the victim, from the fault to the end. */
  readonly otherGapMsMax: number;
  readonly grants: number;
  readonly issued: number;
  readonly acks: number;
  readonly staleLandings: number;
  readonly trace: readonly string[];
}

/**
 * One seeded run: load from the start; at 5 s every partition must be leased by its
 * preferred region; then the fault on a victim drawn from the seed, lasting 2.5–6 s; then
 * recovery, and the failback checked while the load goes on; then LOAD_TAIL_MS more.
 */
export async function loadLiveness(seed: number, regions: readonly string[], fault: LoadFault, overrides: Partial<SimOptions> = {}): Promise<LoadRunResult> {
  const fence: FenceModelOptions = { ...FENCE_DEFAULTS, clientLoadEveryMs: LOAD_EVERY_MS, ...overrides.fence };
  const sim = new SimCluster({ ...SIM_DEFAULTS, regions, partitions: 2 * regions.length, ...overrides, fence, seed });
  const boundMs = failbackBoundMs(sim.o, fence);
  const victim = regions[Math.floor(sim.random() * regions.length)] as string;
  const partitions = Array.from({ length: sim.o.partitions }, (_, p) => p);
  const preferred = (p: number) => sim.topology.partitions.get(`ks/${p}`)?.nodes[0] as string;
  const homes = partitions.filter((p) => preferred(p) === victim);
  const lastAck = new Array<number>(sim.o.partitions).fill(Number.NaN);
  let gapsFromMs = Infinity;
  let healthyAtMs = Infinity;
  let pauseMsMax = 0;
  let otherGapMsMax = 0;
  sim.onAck = (_region, p) => {
    const gap = sim.nowMs - (lastAck[p] as number);
    lastAck[p] = sim.nowMs;
    if (!(gap > 0)) return;
    if (homes.includes(p)) { if (sim.nowMs >= healthyAtMs) pauseMsMax = Math.max(pauseMsMax, gap); } else if (sim.nowMs >= gapsFromMs) otherGapMsMax = Math.max(otherGapMsMax, gap);
  };
  let violation: string | null = null;
  let failbackMs: number | null = null;
  try {
    sim.start();
    await sim.runUntil(LOAD_SETTLE_MS);
    for (const p of partitions) {
      if (sim.holders(p).join() !== preferred(p) || sim.fenceSeen[p]!.ackedBy !== preferred(p)) {
        throw new Violation(`not settled before the fault: ks/${p} held by [${sim.holders(p).join()}], last acknowledged by ${sim.fenceSeen[p]!.ackedBy}, preferred ${preferred(p)}`);
      }
    }
    const faultAt = sim.nowMs + sim.random() * 500;
    const downMs = 2500 + sim.random() * 3500;
    await sim.runUntil(faultAt);
    gapsFromMs = faultAt;
    inject(sim, fault, victim);
    await sim.runUntil(faultAt + downMs);
    const recoveredAt = sim.nowMs;
    recover(sim, fault, victim);
    healthyAtMs = Math.max(recoveredAt, ...homes.map((p) => (Number.isNaN(sim.lastGrantAtMs[p]) ? -Infinity : (sim.lastGrantAtMs[p] as number) + hysteresisMs(sim.o))));
    const back = (p: number) => sim.holders(p).join() === victim && sim.fenceSeen[p]!.ackedBy === victim && sim.fenceSeen[p]!.ackedAtMs >= recoveredAt;
    await sim.runUntil(healthyAtMs + boundMs, () => {
      if (!homes.every(back)) return false;
      failbackMs = Math.max(0, sim.nowMs - healthyAtMs);
      return true;
    });
    if (failbackMs !== null) {
      await sim.runUntil(sim.nowMs + LOAD_TAIL_MS);
      const moved = partitions.filter((p) => sim.holders(p).join() !== preferred(p));
      if (moved.length > 0) throw new Violation(`after the failback, under load: ${moved.map((p) => `ks/${p} held by [${sim.holders(p).join()}]`).join(', ')} (preferred ${moved.map(preferred).join(', ')})`);
    }
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
    violation = err.message;
  }
  const gw = (r: string) => sim.regions.get(r)?.gateway;
  return {
    seed, regions, fault, victim, violation, failbackMs, boundMs, pauseMsMax, otherGapMsMax, grants: sim.grants, issued: sim.load.issued,
    acks: sim.fenceSeen.reduce((n, s) => n + s.acks, 0), staleLandings: sim.staleLandings, trace: sim.trace.concat(holdersLine(sim, partitions), regions.map((r) => `${r}: gateway ${gw(r) ? `${gw(r)!.acks} acks` : 'down'}`)),
  };
}

function holdersLine(sim: SimCluster, partitions: number[]): string {
  return `at ${sim.nowMs.toFixed(1)} ms: ${partitions.map((p) => `ks/${p} [${sim.holders(p).join()}] acked by ${sim.fenceSeen[p]!.ackedBy}@${sim.fenceSeen[p]!.ackedEpoch} at ${sim.fenceSeen[p]!.ackedAtMs.toFixed(0)}`).join('; ')}`;
}

function inject(sim: SimCluster, fault: LoadFault, victim: string): void {
  if (fault === 'crash') {
    sim.crashRegion(victim);
    return;
  }
  const others = fault === 'isolate' ? [...sim.o.regions, WITNESS] : [...sim.o.regions];
  for (const o of others) if (o !== victim) sim.net.cutBoth(victim, o);
  sim.log(`${fault} ${victim}`);
}

function recover(sim: SimCluster, fault: LoadFault, victim: string): void {
  if (fault === 'crash') sim.startRegion(victim);
  else {
    sim.net.heal();
    sim.log('heal');
  }
}
