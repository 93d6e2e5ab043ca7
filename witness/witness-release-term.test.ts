/**
 * With several instances per region, the region's coordinator changes terms (its fencing
 * token). A released failback makes the witness grant at once and forget its promise to the
 * region; a released request of an old term (its coordinator lost the lease mid-handover:
 * frozen, or the request delayed on the WAN) must not be granted after the region's newer
 * coordinator renewed the partition and resumed writes: two regions would hold leases.
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type ConfirmRequest, type GrantRequest } from './protocol.js';
import { buildTopology } from './topology.js';
import { WitnessCore } from './witness-core.js';

const LEASE_MS = 1000;
const DRIFT_MS = 100;
const topology = buildTopology({ regions: ['a', 'b'], keyspaces: [{ name: 'ks', partitions: 2 }] });
const withTerm = <T extends object>(m: T, term: number | undefined): T => (term === undefined ? m : { ...m, term });
const hb = (w: WitnessCore, from: string, t: number, term?: number) => w.heartbeat(withTerm({ v: PROTOCOL_VERSION, from, peersUp: [] }, term), t);
const confirm = (w: WitnessCore, from: string, epoch: number, t: number, term?: number) =>
  w.confirm(withTerm<ConfirmRequest>({ v: PROTOCOL_VERSION, from, round: 1, items: [{ keyspace: 'ks', partition: 0, epoch }] }, term), t).items[0]!;
const released = (term: number | undefined): GrantRequest =>
  withTerm<GrantRequest>({ v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition: 0, knownEpoch: 1, reason: 'failback', target: 'a', released: true }, term);

/** b took partition 0 over from a (a was away); a came back; b's coordinator of `term` renewed at 4000. */
function handoverPending(term: number | undefined): WitnessCore {
  const w = new WitnessCore({ topology, leaseMs: LEASE_MS, bootMonoMs: 0, regionSilenceMs: 500, minOwnershipChangeIntervalMs: 2000, decisionsMax: 10 });
  hb(w, 'b', 2000, term);
  const take = w.planGrant(withTerm<GrantRequest>({ v: PROTOCOL_VERSION, from: 'b', keyspace: 'ks', partition: 0, knownEpoch: 0, reason: 'owner-unreachable' }, term), 2000, 0);
  w.commit(take.change!, 2000);
  hb(w, 'a', 4000);
  expect(confirm(w, 'b', 1, 4000, term).ok).toBe(true);
  return w;
}

function arrive(w: WitnessCore, req: GrantRequest, t: number) {
  hb(w, 'a', t);
  const plan = w.planGrant(req, t, 0);
  if (plan.change) w.commit(plan.change, t);
  return plan.reply;
}

describe('WitnessCore: a released failback of an old coordinator term', () => {
  it('is refused (stale-term) once a newer term of the region renewed the partition: one lease at a time', () => {
    const w = handoverPending(1);
    // term 1 (b-0) stops, drains and sends the released request, which is delayed; b-0 loses
    // its coordinator lease; b-1 (term 2) knows nothing of the handover, renews and writes
    const termTwoRenewedAt = 4400;
    expect(confirm(w, 'b', 1, termTwoRenewedAt, 2).ok).toBe(true);
    const termTwoLeaseEnd = termTwoRenewedAt + LEASE_MS - DRIFT_MS;
    const t = 4500;
    const reply = arrive(w, released(1), t);
    const aConfirmed = confirm(w, 'a', 2, t + 10);
    const bothLeased = reply.outcome === 'granted' && aConfirmed.ok && t + 10 < termTwoLeaseEnd;
    expect(bothLeased, 'two regions hold a confirmed lease on ks/0 at once').toBe(false);
    expect(reply).toMatchObject({ outcome: 'refused', owner: 'b', epoch: 1 });
    expect(reply.reason).toMatch(/^stale-term: released by b's coordinator term 1, its latest term is 2/);
    // b stays the owner at epoch 1, its promise stands: term 2 renews on
    expect(w.ownerOf('ks/0')).toEqual({ owner: 'b', epoch: 1 });
    expect(confirm(w, 'b', 1, 4600, 2).ok).toBe(true);
  });

  it('is refused when the newer term was heard by a heartbeat only (before it renewed anything)', () => {
    const w = handoverPending(1);
    hb(w, 'b', 4300, 2);
    expect(arrive(w, released(1), 4500)).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/^stale-term/) });
    expect(w.termOf('b')).toBe(2);
  });

  it('is granted for the current term, and a newer term released by the new coordinator is granted too', () => {
    const w = handoverPending(3);
    expect(arrive(w, released(3), 4500)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
    expect(confirm(w, 'a', 2, 4510).ok).toBe(true);
    const w2 = handoverPending(3);
    expect(arrive(w2, released(4), 4500)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
    expect(w2.termOf('b')).toBe(4);
  });

  it('a region without coordination (no term) behaves as before: the released failback is granted at once', () => {
    const w = handoverPending(undefined);
    expect(confirm(w, 'b', 1, 4400).ok).toBe(true);
    expect(arrive(w, released(undefined), 4500)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
    expect(confirm(w, 'a', 2, 4510).ok).toBe(true);
    expect(w.termOf('b')).toBe(0);
  });

  it('keeps one term per region of the topology (an unknown sender adds nothing)', () => {
    const w = handoverPending(1);
    hb(w, 'zz', 4300, 9);
    expect(w.termOf('zz')).toBe(0);
    hb(w, 'b', 4310, 5);
    hb(w, 'b', 4320, 2); // an older term heard late never lowers it
    expect(w.termOf('b')).toBe(5);
  });
});
