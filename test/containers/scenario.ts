/**
 * One fault scenario on a GeoTopology: reset the topology, run the workload while the fault
 * script runs, heal everything, let the regions settle (bounded), then check the history.
 * The result carries the checker's report (with the history excerpt of each violation) and
 * timings for the run's summary line.
 */
import { checkHistory, formatReport, type CheckResult } from '../checker/checker.js';
import type { History } from '../checker/history.js';
import { readGrants, settle, type Settled } from '../checker/observe.js';
import { Workload } from '../checker/workload.js';
import { CLUSTER_SECRET, DIVERGE_KEYSPACE, FENCE_KEYSPACE, type GeoTopology } from './topology.js';

export interface ScenarioOptions {
  name: string;
  /** Workload length. */
  durationMs: number;
  /** The fault script; runs beside the workload and must end before `durationMs` + 60 s. */
  fault?: (ctx: { topo: GeoTopology; workload: Workload; t0: number; at: (ms: number) => Promise<void> }) => Promise<void>;
  canReach?: (from: string, to: string) => boolean;
  settleTimeoutMs?: number;
  seed?: number;
  clientsPerRegion?: number;
  /**
   * The fault cuts an owner off inside its lease: the fence keyspace has no sync replica, so
   * the writes it acknowledges until the lease ends may be superseded by the failover. The
   * checker then judges them as recoverable losers (counted) instead of lost
   * (test/checker/checker.ts `asyncFailoverKeyspaces`, docs/design-notes.md).
   */
  asyncFailover?: boolean;
}

export interface ScenarioRun {
  readonly history: History;
  readonly result: CheckResult;
  readonly report: string;
  readonly settled: Settled;
  readonly ms: { workload: number; settle: number; total: number };
  /**
   * Acknowledged writes by gateway instance (`<region>-<k>`): client `<region>-<c>` uses
   * instance `c % gatewaysPerRegion` (Workload's `urls`), a redirect it follows the same index.
   */
  readonly acksByInstance: ReadonlyMap<string, number>;
  /** Every gateway instance of the topology (`<region>-<k>`). */
  readonly instances: readonly string[];
}

export function acksByInstance(history: History, gatewaysPerRegion: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const op of history.ops) {
    if (op.kind === 'read' || op.status !== 'ok' || !op.ackRegion) continue;
    const id = `${op.ackRegion}-${Number(/-(\d+)$/.exec(op.client)?.[1] ?? 0) % gatewaysPerRegion}`;
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

export const DEFAULT_SETTLE_TIMEOUT_MS = 30_000;
export const FAULT_OVERRUN_MS_MAX = 60_000;

export async function runScenario(topo: GeoTopology, o: ScenarioOptions): Promise<ScenarioRun> {
  const tStart = Date.now();
  await topo.reset();
  const workload = new Workload({
    targets: topo.targets(), fenceKeyspace: FENCE_KEYSPACE, divergeKeyspace: DIVERGE_KEYSPACE,
    keyPrefix: `${o.name}-${Date.now().toString(36)}`, durationMs: o.durationMs, seed: o.seed ?? 7,
    clientsPerRegion: o.clientsPerRegion, canReach: o.canReach,
  });
  const t0 = Date.now();
  const at = async (ms: number) => {
    const wait = t0 + ms - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
  const faultDone = (async () => {
    if (!o.fault) return;
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`fault script of ${o.name} overran`)), o.durationMs + FAULT_OVERRUN_MS_MAX);
    });
    try {
      await Promise.race([o.fault({ topo, workload, t0, at }), overrun]);
    } finally {
      clearTimeout(timer);
    }
  })();
  const [, fault] = await Promise.allSettled([workload.run(), faultDone]);
  const workloadMs = Date.now() - t0;
  // heal whatever the script left, even when it failed, then judge
  await topo.reset();
  if (fault.status === 'rejected') throw fault.reason;
  const keys = [...new Set([...workload.keys(), ...workload.history.ops].map((k) => `${k.keyspace}/${k.key}`))];
  const settled = await settle(topo.stores(), keys, o.settleTimeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS);
  const grants = await readGrants(topo.witnessUrl(), CLUSTER_SECRET);
  const result = checkHistory({
    ops: workload.history.ops, finals: settled.finals, journal: settled.journal, fenceKeyspaces: new Set([FENCE_KEYSPACE]), grants,
    lwwKeyspaces: new Set([DIVERGE_KEYSPACE]), ...(o.asyncFailover ? { asyncFailoverKeyspaces: new Set([FENCE_KEYSPACE]) } : {}),
  });
  const report = `${o.name}: ${settled.unsettled ? `NOT settled after ${settled.settledMs} ms (${settled.unsettled})` : `settled in ${settled.settledMs} ms`}\n`
    + formatReport(result, workload.history.ops);
  const byInstance = acksByInstance(workload.history, topo.gatewaysPerRegion);
  const run: ScenarioRun = { history: workload.history, result, report, settled, ms: { workload: workloadMs, settle: settled.settledMs, total: Date.now() - tStart }, acksByInstance: byInstance,
    instances: topo.regions.flatMap((r) => Array.from({ length: topo.gatewaysPerRegion }, (_, k) => `${r}-${k}`)) };
  const instancesLine = topo.gatewaysPerRegion > 1 ? ` | acked writes by instance ${[...byInstance].sort().map(([id, n]) => `${id}=${n}`).join(' ')}` : '';
  console.log(`[scenario] ${report.split('\n').slice(0, 2).join(' | ')} | workload ${workloadMs} ms, total ${run.ms.total} ms${instancesLine}`);
  return run;
}

/** Counts of the history by region and status, for assertions on availability. */
export function tally(history: History, pred: (o: History['ops'][number]) => boolean): number {
  return history.ops.filter(pred).length;
}
