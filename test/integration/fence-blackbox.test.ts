/**
 * Issue 9's split-brain, black-box on real processes: two regions + witness (real
 * redis-server processes, gateways and witness in this process, a TCP relay on every
 * inter-site link), the workload writing to the owners of `orders` (fence) partitions. The
 * Redis of east (home of half the partitions) is frozen (SIGSTOP) for 1.5 s; 300 ms after it
 * froze, east is cut from west and from the witness; west takes east's partitions over and
 * acknowledges writes; the Redis resumes with what queued behind the stall; the links heal.
 * The history checker must find no split-brain (no ack by east after west acked at a higher
 * epoch) and no lost write (no acked write lost as a stale-epoch loser), among the rest.
 *
 * The container version of the same scenario is in test/containers/faults.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory, formatReport } from '../checker/checker.js';
import { readGrants, settle, type RegionStoreAccess } from '../checker/observe.js';
import { Workload } from '../checker/workload.js';
import { startCluster, TEST_SECRET, type ClusterControls, type ClusterFixture } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FREEZE_AT_MS = 2_000;
const FREEZE_MS = 1_500;
const CUT_AFTER_FREEZE_MS = 300;
const HEAL_AT_MS = 7_000;
const WORKLOAD_MS = 9_000;
const SETTLE_TIMEOUT_MS = 30_000;

describe('fence black-box: the owner\'s Redis frozen while it is cut off (real processes, relays)', () => {
  let c: ClusterFixture & ClusterControls;
  beforeAll(async () => {
    c = await startCluster(['east', 'west'], { wan: true, witness: true });
  });
  afterAll(async () => {
    for (const r of c?.regions ?? []) r.redis.thaw();
    await c?.stop();
  });

  it('west takes over and acknowledges; east acknowledges nothing after it; no split-brain, no lost write', async () => {
    const url = (r: string) => `http://127.0.0.1:${c.byName(r).port}`;
    const targets = ['east', 'west'].map((region) => ({ region, url: url(region), publicUrl: url(region) }));
    const workload = new Workload({
      targets, fenceKeyspace: 'orders', divergeKeyspace: 'carts', keyPrefix: `fbb-${Date.now().toString(36)}`,
      keysPerKeyspace: 8, clientsPerRegion: 4, durationMs: WORKLOAD_MS, seed: 9,
    });
    const t0 = Date.now();
    const running = workload.run();
    const east = c.byName('east');
    await sleep(FREEZE_AT_MS);
    const frozenAt = Date.now() - t0;
    east.redis.freeze();
    await sleep(CUT_AFTER_FREEZE_MS);
    c.isolate('east');
    await sleep(FREEZE_MS - CUT_AFTER_FREEZE_MS);
    east.redis.thaw();
    const thawedAt = Date.now() - t0;
    await sleep(HEAL_AT_MS - (Date.now() - t0));
    c.healAll();
    const history = await running;

    const stores: RegionStoreAccess[] = c.regions.map((r) => {
      const u = new URL(r.redis.url);
      return { region: r.region, url: url(r.region), redisHost: u.hostname, redisPort: Number(u.port), prefix: r.config.redis.keyPrefix };
    });
    const keys = [...new Set(history.ops.map((o) => `${o.keyspace}/${o.key}`))];
    const settled = await settle(stores, keys, SETTLE_TIMEOUT_MS);
    const grants = await readGrants(c.byName('west').config.witness!.url, TEST_SECRET);
    const result = checkHistory({ ops: history.ops, finals: settled.finals, journal: settled.journal, fenceKeyspaces: new Set(['orders']), grants });
    const report = `${settled.unsettled ? `NOT settled: ${settled.unsettled}` : `settled in ${settled.settledMs} ms`}\n${formatReport(result, history.ops)}`;

    // the scenario happened: west was granted east's orders partitions and acknowledged writes on them after the cut,
    // and east had fence writes in flight across the freeze
    const moved = grants.filter((g) => g.keyspace === 'orders' && g.fromOwner === 'east' && g.toOwner === 'west');
    const movedNames = new Set(moved.map((g) => `orders.${g.partition}`));
    const takeoverAcks = history.ops.filter((o) => o.keyspace === 'orders' && o.kind !== 'read' && o.status === 'ok' && o.ackRegion === 'west'
      && movedNames.has(o.partition ?? '') && o.invokeMs - t0 > frozenAt + CUT_AFTER_FREEZE_MS && o.invokeMs - t0 < HEAL_AT_MS);
    const acrossFreeze = history.ops.filter((o) => o.keyspace === 'orders' && o.kind !== 'read' && (o.ackRegion ?? o.region) === 'east'
      && o.invokeMs - t0 < frozenAt + FREEZE_MS && (o.completeMs ?? Infinity) - t0 > thawedAt);
    console.log(`[fence-blackbox] frozen ${frozenAt}..${thawedAt} ms; ${moved.length} orders partitions moved east->west `
      + `(${moved.map((g) => `${g.partition}@e${g.epoch} at ${g.atMs - t0} ms`).join(', ')}); ${takeoverAcks.length} west acks on them before the heal; `
      + `${acrossFreeze.length} east fence writes across the freeze (${acrossFreeze.map((o) => o.detail).join(', ')})\n${report.split('\n').slice(0, 2).join(' | ')}`);
    expect(moved.length, report).toBeGreaterThan(0);
    expect(takeoverAcks.length, report).toBeGreaterThan(0);
    expect(acrossFreeze.length, report).toBeGreaterThan(0);
    expect(settled.unsettled, report).toBeUndefined();
    expect(result.violations.filter((v) => v.invariant === 'split-brain'), report).toEqual([]);
    expect(result.violations, report).toEqual([]);
  }, 90_000);
});
