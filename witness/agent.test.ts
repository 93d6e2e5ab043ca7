import { describe, expect, it } from 'vitest';
import { OwnershipAgent, type AgentOptions } from './agent.js';
import { PROTOCOL_VERSION, type ConfirmReply, type ConfirmRequest, type HeartbeatReply } from './protocol.js';
import { buildTopology } from './topology.js';

const topology = buildTopology({ regions: ['a', 'b'], keyspaces: [{ name: 'ks', partitions: 2, onSplit: 'fence' }, { name: 'dv', partitions: 2, onSplit: 'diverge' }] });
const base: AgentOptions = { region: 'a', topology, leaseMs: 900, driftMarginMs: 90, bootMonoMs: 0, incarnation: 7 };
const ok = (voter: string, req: ConfirmRequest): ConfirmReply => ({
  v: PROTOCOL_VERSION, voter, round: req.round, items: req.items.map((i) => ({ ...i, ok: true, owner: req.from })),
});

describe('OwnershipAgent', () => {
  it('asks nothing and holds no lease during the boot quiet period', () => {
    const a = new OwnershipAgent(base);
    expect(a.tick(100).confirms).toEqual([]);
    expect(a.authority('ks', 0, 100)).toMatchObject({ kind: 'unavailable' });
  });

  it('counts the lease from the send time minus the drift margin once a majority confirmed', () => {
    const renewed: number[] = [];
    const a = new OwnershipAgent({ ...base, onLeaseRenewed: (_k, _p, _e, ms) => renewed.push(ms) });
    const out = a.tick(1000);
    const req = out.confirms.find((c) => c.voter === 'witness')?.request as ConfirmRequest;
    expect(req.items.map((i) => `${i.keyspace}/${i.partition}`)).toEqual(['ks/0', 'dv/0']);
    expect(a.authority('ks', 0, 1000).kind).toBe('unavailable');
    a.onConfirmReply(ok('witness', req), 1200);
    expect(a.authority('ks', 0, 1200)).toEqual({ kind: 'owner', epoch: 0, leaseRemainingMs: 1000 + 900 - 90 - 1200 });
    expect(renewed[0]).toBe(610);
    expect(a.authority('ks', 0, 1810).kind).toBe('unavailable');
  });

  it('keeps its promise: refuses another owner until receivedAt + leaseMs', () => {
    const b = new OwnershipAgent({ ...base, region: 'b' });
    const fromA = (epoch: number): ConfirmRequest => ({ v: PROTOCOL_VERSION, from: 'a', round: 1, items: [{ keyspace: 'ks', partition: 0, epoch }] });
    expect(b.onConfirmRequest(fromA(0), 1000).items[0]).toMatchObject({ ok: true });
    b.learn('ks', 0, 'b', 1);
    const asked = (t: number) => (b.tick(t).confirms[0]?.request.items ?? []).map((i) => `${i.keyspace}/${i.partition}`);
    expect(asked(1500)).not.toContain('ks/0'); // its own self-vote is refused: it promised a
    expect(asked(1901)).toContain('ks/0');
    expect(b.onConfirmRequest(fromA(0), 1902).items[0]).toMatchObject({ ok: false, reason: 'stale-epoch', owner: 'b', epoch: 1 });
  });

  it('drops its lease when it learns a newer epoch and redirects to the new owner', () => {
    const a = new OwnershipAgent(base);
    const req = a.tick(1000).confirms[0]?.request as ConfirmRequest;
    a.onConfirmReply(ok('b', req), 1010);
    expect(a.authority('ks', 0, 1010).kind).toBe('owner');
    a.setPeerLink('b', 'up');
    a.onGrantReply({ v: PROTOCOL_VERSION, keyspace: 'ks', partition: 0, outcome: 'granted', owner: 'b', epoch: 1, reason: 'x' }, 1020);
    expect(a.authority('ks', 0, 1020)).toEqual({ kind: 'redirect', region: 'b', epoch: 1 });
  });

  it('ignores replies to rounds beyond roundsPendingMax and to a previous incarnation', () => {
    const a = new OwnershipAgent({ ...base, roundsPendingMax: 2, acquireRetryMs: 10 });
    const first = a.tick(1000).confirms[0]?.request as ConfirmRequest;
    a.tick(1010);
    a.tick(1020);
    a.onConfirmReply(ok('b', first), 1030);
    expect(a.authority('ks', 0, 1030).kind).toBe('unavailable');
    const restarted = new OwnershipAgent({ ...base, incarnation: 8, bootMonoMs: 1030, bootQuietMs: 0 });
    restarted.tick(1040);
    restarted.onConfirmReply(ok('b', first), 1041);
    expect(restarted.authority('ks', 0, 1041).kind).toBe('unavailable');
  });

  it('classifies failures and asks the witness only for a dead owner, diverge partitions keep writing', () => {
    const b = new OwnershipAgent({ ...base, region: 'b' });
    const hbReply = (heard: string[]): HeartbeatReply => ({ v: PROTOCOL_VERSION, quiet: false, heard, viable: heard, owners: [] });
    b.setPeerLink('a', 'down');
    b.onHeartbeatReply(hbReply(['a', 'b']), 1000);
    expect(b.classify('a', 1000)).toBe('wan-cut');
    expect(b.tick(1000).grants).toEqual([]);
    expect(b.authority('ks', 0, 1000)).toEqual({ kind: 'redirect', region: 'a', epoch: 0 });
    expect(b.authority('dv', 0, 1000)).toEqual({ kind: 'diverged', owner: 'a', epoch: 0 });
    b.onHeartbeatReply(hbReply(['b']), 1100);
    expect(b.classify('a', 1100)).toBe('peer-dead');
    expect(b.tick(1100).grants.map((g) => `${g.keyspace}/${g.partition}`)).toEqual(['ks/0', 'dv/0']);
    expect(b.classify('a', 5000)).toBe('isolated');
  });
});
