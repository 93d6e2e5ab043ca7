import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { FAILBACK_DIGEST_FRESH_MS, FailbackGate, type FailbackPeerStatus } from './failback-gate.js';

interface Call {
  region: string;
  keyspace: string;
  partition: number;
  resolve(equal: boolean): void;
  reject(err: Error): void;
}

function setup(opts: { inFlightMax?: number; verdictsMax?: number; digests?: boolean } = {}) {
  const clock = new FakeClock();
  const peers: FailbackPeerStatus[] = [{ region: 'east', state: 'up', lagEntries: 0 }, { region: 'south', state: 'up', lagEntries: 0 }];
  const calls: Call[] = [];
  const gate = new FailbackGate({
    clock, peers: () => peers, inFlightMax: opts.inFlightMax, verdictsMax: opts.verdictsMax,
    compare: opts.digests === false ? null : (region, keyspace, partition) =>
      new Promise<boolean>((resolve, reject) => calls.push({ region, keyspace, partition, resolve, reject })),
  });
  return { clock, peers, calls, gate };
}

/** Lets the gate's promise callbacks run. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

describe('FailbackGate', () => {
  it('is false while the region lags, is not up or is unknown, and compares nothing then', () => {
    const { peers, calls, gate } = setup();
    peers[0] = { region: 'east', state: 'up', lagEntries: 3 };
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    peers[0] = { region: 'east', state: 'suspect', lagEntries: 0 };
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(gate.isCaughtUp('orders', 1, 'nowhere')).toBe(false);
    expect(calls).toHaveLength(0);
  });

  it('is false until a comparison completed, true after an equal verdict, false again once it is older than the freshness bound', async () => {
    const { clock, calls, gate } = setup();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ region: 'east', keyspace: 'orders', partition: 1 });
    // still in flight: false, and no second comparison for the same key
    clock.advance(500);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(true);
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
    clock.advance(FAILBACK_DIGEST_FRESH_MS);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(2); // stale: a new comparison started
  });

  it('a fresh equal verdict does not outweigh lag that came back', async () => {
    const { peers, calls, gate } = setup();
    gate.isCaughtUp('orders', 1, 'east');
    calls[0]!.resolve(true);
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
    peers[0] = { region: 'east', state: 'up', lagEntries: 1 };
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
  });

  it('is false after an unequal or failed verdict, and compares again only once that verdict is stale', async () => {
    const { clock, calls, gate } = setup();
    gate.isCaughtUp('orders', 1, 'east');
    calls[0]!.resolve(false);
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    clock.advance(FAILBACK_DIGEST_FRESH_MS);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(2);
    calls[1]!.reject(new Error('peer went away'));
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    expect(calls).toHaveLength(2);
    expect(gate.inFlightCount()).toBe(0);
    clock.advance(FAILBACK_DIGEST_FRESH_MS + 1);
    gate.isCaughtUp('orders', 1, 'east');
    calls[2]!.resolve(true);
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
  });

  it('keeps verdicts per (keyspace, partition, region)', async () => {
    const { calls, gate } = setup();
    gate.isCaughtUp('orders', 1, 'east');
    gate.isCaughtUp('orders', 2, 'east');
    gate.isCaughtUp('carts', 1, 'east');
    gate.isCaughtUp('orders', 1, 'south');
    expect(calls.map((c) => `${c.keyspace}/${c.partition}@${c.region}`)).toEqual(['orders/1@east', 'orders/2@east', 'carts/1@east', 'orders/1@south']);
    calls[0]!.resolve(true);
    calls[1]!.resolve(false);
    await settle();
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
    expect(gate.isCaughtUp('orders', 2, 'east')).toBe(false);
    expect(gate.isCaughtUp('carts', 1, 'east')).toBe(false);
    expect(gate.isCaughtUp('orders', 1, 'south')).toBe(false);
  });

  it('bounds the comparisons in flight overall and the verdicts kept', async () => {
    const { calls, gate } = setup({ inFlightMax: 3, verdictsMax: 4 });
    for (let p = 0; p < 10; p++) expect(gate.isCaughtUp('orders', p, 'east')).toBe(false);
    expect(calls).toHaveLength(3);
    expect(gate.inFlightCount()).toBe(3);
    for (const c of calls.splice(0)) c.resolve(true);
    await settle();
    expect(gate.inFlightCount()).toBe(0);
    for (let p = 0; p < 10; p++) gate.isCaughtUp('orders', p, 'east'); // 0..2 are fresh, 3..5 start
    expect(calls.map((c) => c.partition)).toEqual([3, 4, 5]);
    for (const c of calls.splice(0)) c.resolve(true);
    await settle();
    expect(gate.verdictCount()).toBe(4);
    // the oldest verdicts were dropped: partition 0 compares again, 5 (newest) still stands
    expect(gate.isCaughtUp('orders', 5, 'east')).toBe(true);
    expect(gate.isCaughtUp('orders', 0, 'east')).toBe(false);
    expect(calls.map((c) => c.partition)).toEqual([0]);
  });

  it('drops stale verdicts when it records a new one', async () => {
    const { clock, calls, gate } = setup();
    gate.isCaughtUp('orders', 1, 'east');
    calls[0]!.resolve(true);
    await settle();
    clock.advance(FAILBACK_DIGEST_FRESH_MS + 1);
    gate.isCaughtUp('orders', 2, 'east');
    calls[1]!.resolve(true);
    await settle();
    expect(gate.verdictCount()).toBe(1);
  });

  it('a comparison that throws synchronously counts as not equal', async () => {
    const clock = new FakeClock();
    const gate = new FailbackGate({
      clock, peers: () => [{ region: 'east', state: 'up', lagEntries: 0 }],
      compare: () => { throw new Error('boom'); },
    });
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
    await settle();
    expect(gate.inFlightCount()).toBe(0);
    expect(gate.verdictCount()).toBe(1);
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
  });

  it('without anti-entropy falls back to the lag-only rule', () => {
    const { peers, gate } = setup({ digests: false });
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(true);
    peers[0] = { region: 'east', state: 'up', lagEntries: 2 };
    expect(gate.isCaughtUp('orders', 1, 'east')).toBe(false);
  });
});
