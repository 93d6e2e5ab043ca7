/**
 * TLS on every link between sites, on real containers (issue 12): two regions and the
 * witness with certificates of a lab CA, every listener HTTPS, the region↔region and
 * region→witness links mutual TLS through the WAN relays (which see only TLS bytes). The
 * workload runs through a cut of the east↔west link and its heal; the history checker
 * judges it as it judges the plaintext scenarios.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEngine } from './harness/index.js';
import { GeoTopology, GATEWAY_PORT } from './topology.js';
import { runScenario } from './scenario.js';
import { eventually } from '../helpers/cluster.js';

const { skip } = await requireEngine();

describe.skipIf(skip)('TLS on every inter-site link (2 regions + witness)', () => {
  let topo: GeoTopology;
  const plainFetch = globalThis.fetch;

  beforeAll(async () => {
    topo = await GeoTopology.create({ name: 'tls', tls: true });
    // the workload and the checker call fetch: let it trust the lab CA
    globalThis.fetch = topo.clientFetch;
  });
  afterAll(async () => {
    globalThis.fetch = plainFetch;
    await topo?.close();
  });

  it('links come up over mutual TLS; a plaintext request is refused', async () => {
    await topo.waitAllUp();
    for (const region of topo.regions) {
      const s = await topo.status(region);
      expect(s.peers.every((p) => p.state === 'up' && p.linkState === 'established'), JSON.stringify(s.peers)).toBe(true);
      // the witness answered its votes over mTLS (the leases may come a little after the links)
      const leased = async () => ((await topo.status(region)).ownership as { leased?: number } | undefined)?.leased ?? 0;
      expect(await eventually(async () => (await leased()) > 0, 15_000, 100), `no partition leased at ${region}`).toBe(true);
      await expect(plainFetch(`http://${topo.ip(`gw-${region}`)}:${GATEWAY_PORT}/healthz`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
    }
    // the relays carried the links' bytes
    const ew = await topo.relay('east', 'west').state();
    expect(ew.stats.ab.bytesForwarded).toBeGreaterThan(0);
  });

  it('a WAN cut and its heal under load: writes acknowledged, replicated over TLS and merged, the history clean', async () => {
    const run = await runScenario(topo, {
      name: 'tls-cut', durationMs: 12_000, asyncFailover: true, // orders has no sync replica (docs/design-notes.md)
      fault: async ({ topo: t, at }) => {
        await at(2000);
        await t.cutLink('east', 'west');
        await at(6000);
        await t.healAll();
      },
    });
    expect(run.settled.unsettled, run.report).toBeUndefined();
    expect(run.result.violations.map((v) => `${v.invariant} ${v.key}`), run.report).toEqual([]);
    expect(run.result.stats.acked, run.report).toBeGreaterThan(20);
    console.log(`[tls-cut] acked ${run.result.stats.acked}, unknown ${run.result.stats.unknown}, failover losers ${run.result.stats.failoverLosers}; settled in ${run.ms.settle} ms`);
  }, 180_000);
});
