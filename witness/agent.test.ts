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
    const round = b.tick(1500).confirms.find((c) => c.voter === 'witness')!.request;
    expect(round.items.map((i) => `${i.keyspace}/${i.partition}`)).toContain('ks/1');
    // asked, but its own vote is withheld: it promised a; the witness alone is no majority
    b.onConfirmReply(ok('witness', round), 1510);
    expect(b.authority('ks', 0, 1510).kind).toBe('unavailable');
    expect(b.authority('ks', 1, 1510).kind).toBe('owner');
    expect(b.onConfirmRequest(fromA(0), 1520).items[0]).toMatchObject({ ok: false, reason: 'stale-epoch', owner: 'b', epoch: 1 });
  });

  it('an older owner that confirms us at the newer epoch frees the promise made to it (handover)', () => {
    const b = new OwnershipAgent({ ...base, region: 'b' });
    const fromA = (epoch: number): ConfirmRequest => ({ v: PROTOCOL_VERSION, from: 'a', round: 1, items: [{ keyspace: 'ks', partition: 0, epoch }] });
    expect(b.onConfirmRequest(fromA(0), 1000).items[0]).toMatchObject({ ok: true });
    b.learn('ks', 0, 'b', 1);
    const round = b.tick(1500).confirms.find((c) => c.voter === 'a')!.request;
    expect(round.items).toContainEqual({ keyspace: 'ks', partition: 0, epoch: 1 });
    b.onConfirmReply(ok('witness', round), 1510);
    expect(b.authority('ks', 0, 1510).kind).toBe('unavailable');
    b.onConfirmReply(ok('a', round), 1520);
    expect(b.authority('ks', 0, 1520)).toMatchObject({ kind: 'owner', epoch: 1 });
    // a confirmation by someone else than the promised owner frees nothing
    const c = new OwnershipAgent({ ...base, region: 'b' });
    c.onConfirmRequest(fromA(0), 1000);
    c.learn('ks', 0, 'b', 1);
    const r2 = c.tick(1500).confirms.find((x) => x.voter === 'witness')!.request;
    c.onConfirmReply(ok('witness', r2), 1510);
    expect(c.authority('ks', 0, 1510).kind).toBe('unavailable');
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

describe('OwnershipAgent: failback is a handover', () => {
  /** Region b owns ks/0 (preferred: a) at epoch 1 with a lease; a is up and viable. */
  function ownerB(extra: Partial<AgentOptions> = {}) {
    const began: string[] = [];
    const b = new OwnershipAgent({
      ...base, region: 'b', handoverMinOwnedMs: 0, isCaughtUp: () => true,
      onReleaseBegun: (ks, p, target) => began.push(`${ks}/${p}->${target}`), ...extra,
    });
    b.learn('ks', 0, 'b', 1);
    const round = b.tick(1000).confirms.find((c) => c.voter === 'witness')!.request;
    b.onConfirmReply(ok('witness', round), 1010);
    expect(b.authority('ks', 0, 1010).kind).toBe('owner');
    b.setPeerLink('a', 'up');
    const seen: HeartbeatReply = { v: PROTOCOL_VERSION, quiet: false, heard: ['a', 'b'], viable: ['a', 'b'], owners: [] };
    b.onHeartbeatReply(seen, 1020);
    return { b, began };
  }
  const fromA = (epoch: number): ConfirmRequest => ({ v: PROTOCOL_VERSION, from: 'a', round: 9, items: [{ keyspace: 'ks', partition: 0, epoch }] });
  const failbacks = (b: OwnershipAgent, t: number) => b.tick(t).grants.filter((g) => g.keyspace === 'ks' && g.partition === 0);

  it('carries its coordinator term in heartbeats, confirmations and the released request; none without a term', () => {
    for (const term of [7, undefined]) {
      const { b } = ownerB(term === undefined ? {} : { term });
      const want = term === undefined ? undefined : term;
      const outs = [b.tick(1030), b.tick(1400)];
      const beats = outs.flatMap((o) => (o.heartbeat ? [o.heartbeat] : []));
      const asks = outs.flatMap((o) => o.confirms);
      expect(beats.length).toBeGreaterThan(0);
      expect(asks.length).toBeGreaterThan(0);
      expect(beats.every((h) => h.term === want)).toBe(true);
      expect(asks.every((c) => c.request.term === want)).toBe(true);
      b.releaseDrained('ks', 0);
      const [released] = failbacks(b, 1410);
      expect(released).toMatchObject({ released: true });
      expect(released!.term).toBe(want);
      if (term === undefined) expect('term' in released!).toBe(false);
    }
    expect(() => ownerB({ term: 0 })).toThrow(/term must be a positive integer/);
  });

  it('stops writes and renewals, asks the witness only once drained, and hands over on the grant', () => {
    const { b, began } = ownerB();
    expect(failbacks(b, 1030)).toEqual([]); // draining: nothing asked yet
    expect(began).toEqual(['ks/0->a']);
    expect(b.authority('ks', 0, 1030)).toMatchObject({ kind: 'unavailable', reason: 'handover to a' });
    const renewals = b.tick(1400).confirms.flatMap((c) => c.request.items).filter((i) => i.keyspace === 'ks' && i.partition === 0);
    expect(renewals).toEqual([]);
    expect(b.releaseDrained('ks', 0)).toBe(true);
    expect(failbacks(b, 1410)).toEqual([expect.objectContaining({ reason: 'failback', target: 'a', released: true, knownEpoch: 1 })]);
    expect(b.abortRelease('ks', 0, 1420)).toBe(false); // the request is out: only the answer ends it
    b.onGrantReply({ v: PROTOCOL_VERSION, keyspace: 'ks', partition: 0, outcome: 'granted', owner: 'a', epoch: 2, reason: 'x' }, 1450);
    expect(b.authority('ks', 0, 1450)).toEqual({ kind: 'redirect', region: 'a', epoch: 2 });
    // it gave its lease up: it confirms the new owner at once (no wait for its own promise)
    expect(b.onConfirmRequest(fromA(2), 1460).items[0]).toMatchObject({ ok: true });
  });

  it('an aborted drain resumes writes under the lease still held, and backs off', () => {
    const { b } = ownerB();
    failbacks(b, 1030);
    expect(b.abortRelease('ks', 0, 1040)).toBe(true);
    expect(b.authority('ks', 0, 1040).kind).toBe('owner');
    expect(b.release('ks', 0)).toBeNull();
    const renewal = b.tick(1500).confirms.find((c) => c.voter === 'witness')!.request;
    b.onConfirmReply(ok('witness', renewal), 1510);
    expect(b.release('ks', 0)).toBeNull(); // backing off (1000 ms)
    b.onHeartbeatReply({ v: PROTOCOL_VERSION, quiet: false, heard: ['a', 'b'], viable: ['a', 'b'], owners: [] }, 2000);
    b.tick(2041);
    expect(b.release('ks', 0)).toMatchObject({ target: 'a', phase: 'draining' });
  });

  it('a refused released request voids the old lease: writes wait for a lease confirmed anew', () => {
    const { b } = ownerB();
    failbacks(b, 1030);
    b.releaseDrained('ks', 0);
    failbacks(b, 1040);
    b.onGrantReply({ v: PROTOCOL_VERSION, keyspace: 'ks', partition: 0, outcome: 'refused', owner: 'b', epoch: 1, reason: 'hysteresis', retryAfterMs: 500 }, 1100);
    expect(b.release('ks', 0)).toBeNull();
    expect(b.authority('ks', 0, 1100)).toMatchObject({ kind: 'unavailable', reason: 'lease-pending' });
  });

  it('learns a handover from the previous owner only: the known owner, for exactly the next epoch, to us', () => {
    const a = new OwnershipAgent({ ...base, region: 'a' });
    a.learn('ks', 0, 'b', 1);
    expect(a.learnFromPreviousOwner('ks', 0, 'a', 2, 'x')).toBe(false);
    expect(a.learnFromPreviousOwner('ks', 0, 'a', 3, 'b')).toBe(false);
    expect(a.learnFromPreviousOwner('ks', 0, 'b', 2, 'b')).toBe(false);
    expect(a.learnFromPreviousOwner('ks', 0, 'a', 2, 'b')).toBe(true);
    expect(a.known('ks', 0)).toMatchObject({ owner: 'a', epoch: 2 });
  });

  it('without a drain hook (simulations) the released request goes out at once', () => {
    const { b } = ownerB({ onReleaseBegun: undefined });
    expect(failbacks(b, 1030)).toEqual([expect.objectContaining({ released: true, target: 'a' })]);
  });
});
