import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type GrantRequest } from './protocol.js';
import { buildTopology } from './topology.js';
import { WitnessCore, type WitnessCoreOptions } from './witness-core.js';

const topology = buildTopology({ regions: ['a', 'b'], keyspaces: [{ name: 'ks', partitions: 2 }] });
const opts: WitnessCoreOptions = { topology, leaseMs: 1000, bootMonoMs: 0, regionSilenceMs: 500, minOwnershipChangeIntervalMs: 2000, decisionsMax: 3 };
const grantReq = (from: string, knownEpoch: number, partition = 0): GrantRequest => ({ v: PROTOCOL_VERSION, from, keyspace: 'ks', partition, knownEpoch, reason: 'owner-unreachable' });
const hb = (w: WitnessCore, from: string, t: number, peersUp: string[] = []) => w.heartbeat({ v: PROTOCOL_VERSION, from, peersUp }, t);
const confirm = (w: WitnessCore, from: string, epoch: number, t: number, partition = 0) =>
  w.confirm({ v: PROTOCOL_VERSION, from, round: 1, items: [{ keyspace: 'ks', partition, epoch }] }, t).items[0];

function grantNow(w: WitnessCore, req: GrantRequest, t: number) {
  const plan = w.planGrant(req, t, 0);
  if (plan.change) w.commit(plan.change, t);
  return plan.reply;
}

describe('WitnessCore', () => {
  it('a released failback forgets the promise to the old owner: the new owner is confirmed at once', () => {
    for (const released of [true, false]) {
      const w = new WitnessCore(opts);
      hb(w, 'b', 2000);
      grantNow(w, grantReq('b', 0), 2000);
      expect(confirm(w, 'b', 1, 4000)).toMatchObject({ ok: true }); // promise to b until 5000
      hb(w, 'a', 4100);
      const back: GrantRequest = { ...grantReq('b', 1), reason: 'failback', target: 'a', ...(released ? { released } : {}) };
      expect(grantNow(w, back, 4100)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
      const verdict = confirm(w, 'a', 2, 4200);
      if (released) expect(verdict).toMatchObject({ ok: true });
      else expect(verdict).toMatchObject({ ok: false, reason: 'promised-other' });
    }
  });

  it('confirms and grants nothing during the boot quiet period', () => {
    const w = new WitnessCore(opts);
    hb(w, 'a', 10);
    expect(confirm(w, 'a', 0, 10)).toMatchObject({ ok: false, reason: 'quiet' });
    expect(grantNow(w, grantReq('b', 0), 10)).toMatchObject({ outcome: 'refused', reason: 'quiet' });
    expect(confirm(w, 'a', 0, 1000)).toMatchObject({ ok: true });
  });

  it('refuses a takeover while the owner is viable (WAN cut), grants epoch + 1 once it is silent and its promise ended', () => {
    const w = new WitnessCore(opts);
    hb(w, 'a', 1000);
    expect(confirm(w, 'a', 0, 1000)).toMatchObject({ ok: true });
    hb(w, 'b', 1100);
    expect(grantNow(w, grantReq('b', 0), 1100)).toMatchObject({ outcome: 'refused', reason: 'owner-alive' });
    hb(w, 'b', 1600);
    expect(grantNow(w, grantReq('b', 0), 1600)).toMatchObject({ outcome: 'refused', reason: 'owner-lease-live', retryAfterMs: 400 });
    hb(w, 'b', 2001);
    expect(grantNow(w, grantReq('b', 0), 2001)).toMatchObject({ outcome: 'granted', owner: 'b', epoch: 1 });
    expect(w.decisions.recent()[0]).toMatchObject({ fromOwner: 'a', toOwner: 'b', epoch: 1, reason: 'owner-unreachable' });
  });

  it('gives concurrent askers one answer: the second asker with the old epoch gets the current owner', () => {
    const w = new WitnessCore(opts);
    hb(w, 'b', 2000);
    expect(grantNow(w, grantReq('b', 0), 2000)).toMatchObject({ outcome: 'granted', owner: 'b', epoch: 1 });
    expect(grantNow(w, grantReq('b', 0), 2001)).toMatchObject({ outcome: 'unchanged', owner: 'b', epoch: 1, reason: 'epoch-moved' });
    expect(w.ownerOf('ks/0')).toEqual({ owner: 'b', epoch: 1 });
  });

  it('limits ownership changes per partition (hysteresis) and refuses a stale owner', () => {
    const w = new WitnessCore(opts);
    hb(w, 'b', 2000);
    grantNow(w, grantReq('b', 0), 2000);
    expect(confirm(w, 'a', 0, 2001)).toMatchObject({ ok: false, reason: 'stale-epoch', owner: 'b', epoch: 1 });
    hb(w, 'a', 2100);
    const back = { ...grantReq('b', 1), reason: 'failback' as const, target: 'a' };
    expect(grantNow(w, back, 2100)).toMatchObject({ outcome: 'refused', reason: 'hysteresis', retryAfterMs: 1900 });
    hb(w, 'a', 4000);
    expect(grantNow(w, back, 4000)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
  });

  it('stops confirming an owner that reports it cannot reach a majority', () => {
    const t3 = buildTopology({ regions: ['a', 'b', 'c'], keyspaces: [{ name: 'ks', partitions: 1 }] });
    const w = new WitnessCore({ ...opts, topology: t3 });
    hb(w, 'a', 1000, []);
    expect(confirm(w, 'a', 0, 1000)).toMatchObject({ ok: false, reason: 'not-viable' });
    hb(w, 'a', 1001, ['b']);
    expect(confirm(w, 'a', 0, 1001)).toMatchObject({ ok: true });
  });

  it('keeps at most decisionsMax decisions, in the durable snapshot too', () => {
    const w = new WitnessCore({ ...opts, minOwnershipChangeIntervalMs: 0 });
    let t = 2000;
    for (let i = 0; i < 5; i++) {
      const cur = w.ownerOf('ks/0');
      const other = cur.owner === 'a' ? 'b' : 'a';
      hb(w, other, t);
      expect(grantNow(w, grantReq(other, cur.epoch), t)).toMatchObject({ outcome: 'granted', epoch: i + 1 });
      t += 600;
    }
    expect(w.decisions.size).toBe(3);
    expect(w.snapshot().decisions.map((d) => d.epoch)).toEqual([3, 4, 5]);
    const restored = new WitnessCore({ ...opts, bootMonoMs: 0 }, w.snapshot());
    expect(restored.ownerOf('ks/0').epoch).toBe(5);
  });
});

describe('WitnessCore: sync replicas', () => {
  const three = buildTopology({ regions: ['a', 'b', 'c'], keyspaces: [{ name: 'ks', partitions: 1, nodes: [['a', 'b', 'c']], sync: ['c'] }] });
  const o3: WitnessCoreOptions = { ...opts, topology: three };

  it('fails a partition over to its sync replica, not to the next region in the node list', () => {
    const w = new WitnessCore(o3);
    hb(w, 'b', 2000, ['c']);
    hb(w, 'c', 2000, ['b']);
    expect(grantNow(w, grantReq('b', 0), 2000)).toMatchObject({ outcome: 'granted', owner: 'c', epoch: 1 });
    expect(w.decisions.recent()[0]!.detail).toContain('sync replica');
  });

  it('with its sync replica not viable either, the partition waits rather than lose acknowledged writes', () => {
    const w = new WitnessCore(o3);
    hb(w, 'b', 2000);
    expect(grantNow(w, grantReq('b', 0), 2000)).toMatchObject({ outcome: 'refused', reason: 'sync-replica-not-viable' });
    hb(w, 'c', 2100, ['b']);
    hb(w, 'b', 2100, ['c']);
    expect(grantNow(w, grantReq('b', 0), 2100)).toMatchObject({ outcome: 'granted', owner: 'c' });
  });

  it('a sync replica that owns the partition has no sync copy elsewhere: the next viable region takes it', () => {
    const w = new WitnessCore(o3);
    hb(w, 'c', 2000, ['b']);
    hb(w, 'b', 2000, ['c']);
    grantNow(w, grantReq('c', 0), 2000); // a silent: c (sync) takes it
    expect(w.ownerOf('ks/0')).toEqual({ owner: 'c', epoch: 1 });
    hb(w, 'a', 5000, ['b']);
    hb(w, 'b', 5000, ['a']);
    expect(grantNow(w, grantReq('b', 1), 5000)).toMatchObject({ outcome: 'granted', owner: 'a', epoch: 2 });
  });
});
