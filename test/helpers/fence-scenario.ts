/**
 * Issue 9's frozen-owner scenario on a startCluster fixture (real redis-server processes,
 * relays on every link, a witness): the workload writes; east's Redis is frozen (SIGSTOP)
 * for `freezeMs`; `cutAfterMs` after it froze east is cut from west and the witness; the
 * Redis resumes; the links heal at `healAtMs`; the regions settle and the history checker
 * (split-brain per fence partition, stale-epoch loss) judges the run.
 */
import { checkHistory, formatReport, type CheckResult } from '../checker/checker.js';
import type { GrantRecord, Op } from '../checker/history.js';
import { partitionOfConfig, readGrants, settle, type RegionStoreAccess } from '../checker/observe.js';
import { Workload } from '../checker/workload.js';
import { TEST_SECRET, type ClusterControls, type ClusterFixture } from './cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FrozenOwnerOptions {
  readonly freezeAtMs?: number;
  readonly freezeMs: number;
  readonly cutAfterMs: number;
  readonly healAtMs?: number;
  readonly workloadMs?: number;
  readonly settleTimeoutMs?: number;
  readonly seed?: number;
  /**
   * The fence keyspace has no sync replica: an owner cut off inside its lease may acknowledge
   * writes no other site has, which a failover then supersedes (journaled as stale-epoch). The
   * checker then judges those as recoverable losers and counts them instead of calling them
   * lost (test/checker/checker.ts `asyncFailoverKeyspaces`). Default false: every stale-epoch
   * loser of an acked write is lost.
   */
  readonly asyncFailover?: boolean;
}

export interface FrozenOwnerRun {
  readonly result: CheckResult;
  readonly report: string;
  readonly unsettled: string | undefined;
  /** Grants of orders partitions from east to west. */
  readonly moved: GrantRecord[];
  /** West's acknowledged writes on moved partitions between the cut and the heal. */
  readonly takeoverAcks: Op[];
  /** East's fence writes sent before the Redis resumed and answered after. */
  readonly acrossFreeze: Op[];
}

/**
 * With several instances per region: the acknowledged writes by instance (client `<region>-<c>`
 * uses instance `c % n`, see Workload's `urls`) and each region's coordinator now.
 */
function instancesLine(c: ClusterFixture & ClusterControls, ops: readonly Op[]): string {
  if (c.regions.every((r) => r.instances.length === 1)) return '';
  const acks = new Map<string, number>();
  for (const op of ops) {
    if (op.kind === 'read' || op.status !== 'ok' || !op.ackRegion) continue;
    const n = c.byName(op.ackRegion).instances.length;
    const id = `${op.ackRegion}-${Number(/-(\d+)$/.exec(op.client)?.[1] ?? 0) % n}`;
    acks.set(id, (acks.get(id) ?? 0) + 1);
  }
  return `; acked writes by instance: ${[...acks].sort().map(([id, n]) => `${id}=${n}`).join(' ')}; coordinators now: ${c.regions.map((r) => `${r.region}=${c.coordinatorOf(r.region)?.id ?? 'none'}`).join(' ')}`;
}

export async function runFrozenOwner(c: ClusterFixture & ClusterControls, o: FrozenOwnerOptions): Promise<FrozenOwnerRun> {
  const freezeAtMs = o.freezeAtMs ?? 2_000;
  const healAtMs = o.healAtMs ?? 7_000;
  const url = (r: string) => `http://127.0.0.1:${c.byName(r).port}`;
  // with several instances per region the clients of a region spread over them
  const targets = ['east', 'west'].map((region) => ({ region, url: url(region), publicUrl: url(region), urls: c.byName(region).instances.map((i) => i.url) }));
  const workload = new Workload({
    targets, fenceKeyspace: 'orders', divergeKeyspace: 'carts', keyPrefix: `fbb-${Date.now().toString(36)}`,
    keysPerKeyspace: 8, clientsPerRegion: 4, durationMs: o.workloadMs ?? 9_000, seed: o.seed ?? 9,
  });
  const t0 = Date.now();
  const running = workload.run();
  const east = c.byName('east');
  try {
    await sleep(freezeAtMs);
    const frozenAt = Date.now() - t0;
    east.redis.freeze();
    await sleep(o.cutAfterMs);
    c.isolate('east');
    await sleep(o.freezeMs - o.cutAfterMs);
    east.redis.thaw();
    const thawedAt = Date.now() - t0;
    await sleep(healAtMs - (Date.now() - t0));
    c.healAll();
    const history = await running;

    const stores: RegionStoreAccess[] = c.regions.map((r) => {
      const u = new URL(r.redis.url);
      return { region: r.region, url: url(r.region), redisHost: u.hostname, redisPort: Number(u.port), prefix: r.config.redis.keyPrefix, partitionOf: partitionOfConfig(r.config) };
    });
    const keys = [...new Set(history.ops.map((op) => `${op.keyspace}/${op.key}`))];
    const settled = await settle(stores, keys, o.settleTimeoutMs ?? 30_000);
    const grants = await readGrants(c.byName('west').config.witness!.url, TEST_SECRET);
    const result = checkHistory({
      ops: history.ops, finals: settled.finals, journal: settled.journal, fenceKeyspaces: new Set(['orders']), grants,
      lwwKeyspaces: new Set(['carts']), ...(o.asyncFailover ? { asyncFailoverKeyspaces: new Set(['orders']) } : {}),
    });
    const report = `${settled.unsettled ? `NOT settled: ${settled.unsettled}` : `settled in ${settled.settledMs} ms`}\n${formatReport(result, history.ops)}`;
    const moved = grants.filter((g) => g.keyspace === 'orders' && g.fromOwner === 'east' && g.toOwner === 'west' && g.atMs > t0);
    const movedNames = new Set(moved.map((g) => `orders.${g.partition}`));
    const takeoverAcks = history.ops.filter((op) => op.keyspace === 'orders' && op.kind !== 'read' && op.status === 'ok' && op.ackRegion === 'west'
      && movedNames.has(op.partition ?? '') && op.invokeMs - t0 > frozenAt + o.cutAfterMs && op.invokeMs - t0 < healAtMs);
    const acrossFreeze = history.ops.filter((op) => op.keyspace === 'orders' && op.kind !== 'read' && (op.ackRegion ?? op.region) === 'east'
      && op.invokeMs - t0 < thawedAt && (op.completeMs ?? Infinity) - t0 > thawedAt);
    console.log(`[fence-blackbox] frozen ${frozenAt}..${thawedAt} ms, cut at ${frozenAt + o.cutAfterMs} ms; ${moved.length} orders partitions moved east->west `
      + `(${moved.map((g) => `${g.partition}@e${g.epoch} at ${g.atMs - t0} ms`).join(', ')}); ${takeoverAcks.length} west acks on them before the heal; `
      + `${acrossFreeze.length} east fence writes across the freeze (${acrossFreeze.map((op) => op.detail).join(', ')})${instancesLine(c, history.ops)}\n${report.split('\n').slice(0, 2).join(' | ')}`);
    return { result, report, unsettled: settled.unsettled, moved, takeoverAcks, acrossFreeze };
  } finally {
    east.redis.thaw();
    c.healAll();
  }
}
