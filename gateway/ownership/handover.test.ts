import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { HANDOVER_DRAIN_MS_MAX, HANDOVER_LAG_ENTRIES_MAX, HandoverDriver, InflightWrites, type HandoverDeps, type HandoverPeerStatus } from './handover.js';

const flush = () => new Promise((r) => setImmediate(r));

function driver(over: Partial<HandoverDeps> & { peer?: Partial<HandoverPeerStatus> } = {}) {
  const clock = new FakeClock();
  clock.advance(10_000);
  const events: string[] = [];
  const acks: Array<{ seq: number; resolve(ok: boolean): void }> = [];
  const peer: HandoverPeerStatus = { region: 'east', state: 'up', lagEntries: 3, ackedSeq: 100, needsRepair: false, ...over.peer };
  const d = new HandoverDriver({
    clock, log: silentLogger(), targetUpMsMin: 1500, upSinceMs: () => 0,
    peers: () => [peer],
    waitForAck: (_p, seq) => new Promise((resolve) => acks.push({ seq, resolve })),
    compare: async () => true,
    drained: (ks, p) => events.push(`drained ${ks}/${p}`),
    aborted: (ks, p) => events.push(`aborted ${ks}/${p}`),
    ...over,
  });
  return { d, clock, events, acks, peer };
}

describe('HandoverDriver', () => {
  it('is ready only for a target up for a lease, needing no repair, close behind', () => {
    expect(driver().d.ready('east')).toBe(true);
    expect(driver().d.ready('nowhere')).toBe(false);
    expect(driver({ upSinceMs: () => 9000 }).d.ready('east')).toBe(false); // up for 1 s < 1.5 s: maybe still quiet
    expect(driver({ upSinceMs: () => null }).d.ready('east')).toBe(false);
    expect(driver({ peer: { needsRepair: true } }).d.ready('east')).toBe(false);
    expect(driver({ peer: { ackedSeq: null } }).d.ready('east')).toBe(false);
    expect(driver({ peer: { lagEntries: HANDOVER_LAG_ENTRIES_MAX + 1 } }).d.ready('east')).toBe(false);
    expect(driver({ peer: { state: 'suspect' } }).d.ready('east')).toBe(false);
  });

  it('waits for the running writes, then for the ack of the head as of then, then compares', async () => {
    const { d, events, acks } = driver();
    const end = d.inflight.begin('orders', 1);
    d.begin('orders', 1, 'east');
    await flush();
    expect(acks).toEqual([]); // a write still runs
    end();
    await flush();
    expect(acks.map((a) => a.seq)).toEqual([103]);
    expect(events).toEqual([]);
    acks[0]!.resolve(true);
    await flush();
    expect(events).toEqual(['drained orders/1']);
    expect(d.runningCount()).toBe(0);
  });

  it('abandons when the digests differ, the ack does not come, or the writes do not finish in time', async () => {
    const differ = driver({ compare: async () => false });
    differ.d.begin('orders', 1, 'east');
    await flush();
    differ.acks[0]!.resolve(true);
    await flush();
    expect(differ.events).toEqual(['aborted orders/1']);

    const noAck = driver();
    noAck.d.begin('orders', 2, 'east');
    await flush();
    noAck.acks[0]!.resolve(false);
    await flush();
    expect(noAck.events).toEqual(['aborted orders/2']);

    const stuck = driver();
    stuck.d.inflight.begin('orders', 3);
    stuck.d.begin('orders', 3, 'east');
    await flush();
    stuck.clock.advance(HANDOVER_DRAIN_MS_MAX);
    await flush();
    expect(stuck.events).toEqual(['aborted orders/3']);
  });

  it('removes the fence as the drain\'s last step, before it reports drained; abandons when the store does not run it in time', async () => {
    const closed: Array<{ what: string; resolve(): void }> = [];
    const { d, events, acks, clock } = driver({ closeFence: (ks, p) => new Promise<void>((resolve) => { events.push(`close ${ks}/${p}`); closed.push({ what: `${ks}/${p}`, resolve }); }) });
    d.begin('orders', 1, 'east');
    await flush();
    expect(events).toEqual([]); // not before the ack
    acks[0]!.resolve(true);
    await flush();
    expect(events).toEqual(['close orders/1']);
    closed[0]!.resolve();
    await flush();
    expect(events).toEqual(['close orders/1', 'drained orders/1']);

    d.begin('orders', 2, 'east');
    await flush();
    acks[1]!.resolve(true);
    await flush();
    expect(events.at(-1)).toBe('close orders/2');
    clock.advance(HANDOVER_DRAIN_MS_MAX);
    await flush();
    expect(events.at(-1)).toBe('aborted orders/2');
  });
});

describe('InflightWrites', () => {
  it('counts per partition, ends once per begin, and wakes every waiter when idle', async () => {
    const w = new InflightWrites();
    const a = w.begin('ks', 0);
    const b = w.begin('ks', 0);
    w.begin('ks', 1);
    let idle = 0;
    void w.whenIdle('ks', 0).then(() => idle++);
    void w.whenIdle('ks', 0).then(() => idle++);
    a();
    a();
    await flush();
    expect(w.count('ks', 0)).toBe(1);
    expect(idle).toBe(0);
    b();
    await flush();
    expect(idle).toBe(2);
    expect(w.count('ks', 1)).toBe(1);
    await w.whenIdle('ks', 2);
  });
});
