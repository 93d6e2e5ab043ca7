import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { OwnershipAgent } from './agent.js';
import { OwnershipRunner } from './agent-runner.js';
import type { WitnessApi } from './client.js';
import type { VoteTransport } from './protocol.js';
import { buildTopology } from './topology.js';
import { WitnessCore } from './witness-core.js';

const topology = buildTopology({ regions: ['a', 'b'], keyspaces: [{ name: 'ks', partitions: 2 }] });

function inProcessWitness(core: WitnessCore, clock: FakeClock): WitnessApi {
  return {
    confirm: async (r) => core.confirm(r, clock.monoMs()),
    heartbeat: async (r) => core.heartbeat(r, clock.monoMs()),
    grant: async (r) => {
      const plan = core.planGrant(r, clock.monoMs(), clock.nowMs());
      if (plan.change) core.commit(plan.change, clock.monoMs());
      return plan.reply;
    },
  };
}

describe('OwnershipRunner', () => {
  it('renews leases through the witness when the peer link is down, and skips sends at inflightMax', async () => {
    const clock = new FakeClock();
    const core = new WitnessCore({ topology, leaseMs: 300, bootMonoMs: 0, regionSilenceMs: 200, minOwnershipChangeIntervalMs: 0, decisionsMax: 10 });
    const silentPeer: VoteTransport = { ask: async () => null };
    const renewed: string[] = [];
    const agent = new OwnershipAgent({
      region: 'a', topology, leaseMs: 300, driftMarginMs: 30, bootMonoMs: 0, incarnation: 1,
      onLeaseRenewed: (ks, p) => renewed.push(`${ks}/${p}`),
    });
    const runner = new OwnershipRunner({ agent, clock, transport: silentPeer, witness: inProcessWitness(core, clock), log: silentLogger(), voteTimeoutMs: 50 });
    runner.start();
    for (let i = 0; i < 40; i++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r));
    }
    expect(agent.authority('ks', 0, clock.monoMs()).kind).toBe('owner');
    expect(renewed).toContain('ks/0');
    runner.stop();

    const hung: WitnessApi = { confirm: () => new Promise(() => {}), grant: () => new Promise(() => {}), heartbeat: () => new Promise(() => {}) };
    const stuck = new OwnershipRunner({ agent, clock, transport: silentPeer, witness: hung, log: silentLogger(), voteTimeoutMs: 50, inflightMax: 2 });
    for (let i = 0; i < 20; i++) {
      clock.advance(50);
      stuck.tick();
    }
    expect(stuck.skipped).toBeGreaterThan(0);
  });
});
