import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { silentLogger } from '../infra/log.js';
import { createWitnessMetrics } from './metrics.js';
import { PROTOCOL_VERSION, type GrantRequest } from './protocol.js';
import { WitnessService } from './service.js';
import type { StateFile } from './state-file.js';
import { buildTopology } from './topology.js';
import { WitnessCore, type DurableState } from './witness-core.js';

const topology = buildTopology({ regions: ['a', 'b'], keyspaces: [{ name: 'ks', partitions: 8 }] });
const take = (partition: number, knownEpoch = 0): GrantRequest => ({ v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition, knownEpoch, reason: 'owner-unreachable' });

/** A state file whose saves complete only when the test says so. */
function slowFile() {
  const saves: Array<{ state: DurableState; done(): void; fail(err: Error): void }> = [];
  const file = { save: (state: DurableState) => new Promise<void>((done, fail) => saves.push({ state, done, fail })) } as unknown as StateFile;
  return { file, saves };
}

function service() {
  const clock = new FakeClock();
  clock.advance(5000);
  const core = new WitnessCore({ topology, leaseMs: 1000, bootMonoMs: 0, regionSilenceMs: 500, minOwnershipChangeIntervalMs: 0, decisionsMax: 100 });
  core.heartbeat({ v: PROTOCOL_VERSION, from: 'b', peersUp: [] }, clock.monoMs());
  const { file, saves } = slowFile();
  return { svc: new WitnessService(core, file, clock, createWitnessMetrics(), silentLogger(), 1000), saves, core };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('WitnessService grants', () => {
  it('group-commits the grants that arrive during a save: one save for the whole batch, answered after it', async () => {
    const { svc, saves, core } = service();
    const first = svc.grant(take(0));
    await flush();
    expect(saves).toHaveLength(1);
    const rest = [2, 4, 6].map((p) => svc.grant(take(p)));
    saves[0]!.done();
    await flush();
    expect(saves).toHaveLength(2); // the three waiting grants: one save
    expect(saves[1]!.state.owners.filter((o) => o.owner === 'b').map((o) => o.partition).sort()).toEqual([0, 2, 4, 6]);
    let answered = 0;
    for (const r of rest) void r.then(() => answered++);
    await flush();
    expect(answered).toBe(0); // nothing answered before it is durable
    saves[1]!.done();
    expect((await first).outcome).toBe('granted');
    expect((await Promise.all(rest)).map((r) => r.epoch)).toEqual([1, 1, 1]);
    expect(core.ownerOf('ks/6')).toEqual({ owner: 'b', epoch: 1 });
  });

  it('two requests for one partition in a batch: the second is planned after the first is committed', async () => {
    const { svc, saves } = service();
    const blocker = svc.grant(take(6));
    await flush();
    const a = svc.grant(take(0));
    const b = svc.grant(take(0));
    saves[0]!.done();
    await flush();
    expect(saves).toHaveLength(2);
    saves[1]!.done();
    await flush();
    expect(await a).toMatchObject({ outcome: 'granted', epoch: 1 });
    expect(saves).toHaveLength(2); // the second needs no save: it is answered "unchanged"
    expect(await b).toMatchObject({ outcome: 'unchanged', epoch: 1, reason: 'epoch-moved' });
    await blocker;
  });

  it('a failed save rejects the batch and commits nothing', async () => {
    const { svc, saves, core } = service();
    const g = svc.grant(take(4));
    await flush();
    saves[0]!.fail(new Error('disk full'));
    await expect(g).rejects.toThrow('disk full');
    expect(core.ownerOf('ks/4').epoch).toBe(0);
  });
});

describe('WitnessService batch grants', () => {
  it('answers a batch of grants in order, made durable with one save', async () => {
    const { svc, saves } = service();
    const batch = svc.grantBatch({ v: PROTOCOL_VERSION, from: 'b', items: [take(0), take(2), take(1), take(0)] });
    await flush();
    expect(saves).toHaveLength(1); // 0 and 2 move in it; 1 is b's already; the second 0 waits for the next batch
    saves[0]!.done();
    await flush();
    const replies = (await batch).items;
    expect(replies.map((r) => `${r.partition}:${r.outcome}`)).toEqual(['0:granted', '2:granted', '1:unchanged', '0:unchanged']);
    expect(saves).toHaveLength(1);
  });
});
