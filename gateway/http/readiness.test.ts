import { describe, expect, it } from 'vitest';
import { judgeReadiness, READINESS_EXAMPLES_MAX, type ReadinessInput } from './readiness.js';

const part = (partition: number, active: string | null, state: string) => ({ partition, active, state });
const base: ReadinessInput = {
  region: 'east', witness: true, store: { ok: true }, bootstrap: { state: 'none', writesOpen: true },
  peers: [{ region: 'west', state: 'up', heartbeatAgeMs: 10 }], ownership: { witnessReachable: true },
  keyspaces: [{ name: 'orders', partitions: [part(0, 'east', 'active'), part(1, 'west', 'replicating')] }],
};
const check = (s: ReadinessInput, name: string) => judgeReadiness(s).checks.find((c) => c.name === name)!;

describe('judgeReadiness', () => {
  it('ready: every check passes, in a fixed order', () => {
    const r = judgeReadiness(base);
    expect(r).toMatchObject({ ready: true, failing: [], region: 'east' });
    expect(r.checks.map((c) => c.name)).toEqual(['store', 'bootstrap', 'links', 'leases']);
  });

  it('store down and bootstrap pending are named with why', () => {
    const r = judgeReadiness({ ...base, store: { ok: false, error: 'connect ECONNREFUSED' }, bootstrap: { state: 'pending', writesOpen: false } });
    expect(r.failing).toEqual(['store', 'bootstrap']);
    expect(check({ ...base, store: { ok: false, error: 'connect ECONNREFUSED' } }, 'store').detail).toMatch(/ECONNREFUSED/);
  });

  it('links: a peer down is fine while the witness answers, not when it does not', () => {
    const down = { ...base, peers: [{ region: 'west', state: 'down', heartbeatAgeMs: 900 }] };
    expect(check(down, 'links')).toMatchObject({ ok: true });
    expect(check({ ...down, ownership: { witnessReachable: false } }, 'links')).toMatchObject({ ok: false, detail: expect.stringMatching(/west \(down\).*witness does not answer/) });
  });

  it('links without a witness: a peer down after it was reached is fine, one never reached is not', () => {
    const stat = { ...base, witness: false, ownership: {} };
    expect(check({ ...stat, peers: [{ region: 'west', state: 'down', heartbeatAgeMs: 5000 }] }, 'links').ok).toBe(true);
    expect(check({ ...stat, peers: [{ region: 'west', state: 'down', heartbeatAgeMs: null }] }, 'links')).toMatchObject({ ok: false, detail: 'never reached since start: west' });
    expect(check({ ...stat, peers: [] }, 'links').ok).toBe(true);
  });

  it('leases: unknown owners and own partitions without a lease fail; examples bounded', () => {
    const many = Array.from({ length: 12 }, (_, p) => part(p, null, 'unknown'));
    const r = check({ ...base, keyspaces: [{ name: 'orders', partitions: [...many, part(12, 'east', 'fenced'), part(13, 'west', 'fenced')] }] }, 'leases');
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/owner not learnt yet for 12 partitions \(orders\/0, orders\/1, orders\/2, orders\/3, orders\/4, …\)/);
    expect(r.detail).toMatch(/1 partitions owned here without a lease yet, lease-pending \(orders\/12\)/);
    expect(r.detail.split('orders/').length - 1).toBe(READINESS_EXAMPLES_MAX + 1);
    expect(check({ ...base, witness: false, keyspaces: [{ name: 'orders', partitions: many }] }, 'leases').ok).toBe(true);
  });
});

describe('judgeReadiness: which checks are required', () => {
  const cutOff = { ...base, peers: [{ region: 'west', state: 'down', heartbeatAgeMs: 900 }], ownership: { witnessReachable: false } };
  const mixed: ReadinessInput = {
    ...cutOff,
    keyspaces: [
      { name: 'orders', onSplit: 'fence', partitions: [part(0, 'east', 'fenced')] },
      { name: 'carts', onSplit: 'diverge', partitions: [part(0, 'east', 'diverged')] },
    ],
  };

  it('a region cut off from the quorum with a diverge keyspace is ready, degraded: it takes those writes', () => {
    const r = judgeReadiness(mixed);
    expect(r).toMatchObject({ ready: true, failing: [], degraded: ['links', 'leases'] });
    expect(r.checks.find((c) => c.name === 'links')).toMatchObject({ ok: false, required: false });
  });

  it('only fence keyspaces: links and leases are required', () => {
    const r = judgeReadiness({ ...mixed, keyspaces: [mixed.keyspaces[0]!] });
    expect(r).toMatchObject({ ready: false, failing: ['links', 'leases'], degraded: [] });
  });

  it('?keyspace= judges one keyspace: the fence one fails, the diverge one is ready; leases only on its partitions', () => {
    expect(judgeReadiness(mixed, 'orders')).toMatchObject({ ready: false, keyspace: 'orders', failing: ['links', 'leases'] });
    expect(judgeReadiness(mixed, 'carts')).toMatchObject({ ready: true, keyspace: 'carts', degraded: ['links'] });
    const leases = judgeReadiness({ ...base, keyspaces: [{ name: 'orders', onSplit: 'fence', partitions: [part(0, 'east', 'active')] }, { name: 'carts', onSplit: 'fence', partitions: [part(0, null, 'unknown')] }] }, 'orders');
    expect(leases.ready).toBe(true);
    expect(() => judgeReadiness(mixed, 'nope')).toThrow(/no keyspace "nope"/);
  });

  it('store and bootstrap stay required for a diverge keyspace', () => {
    expect(judgeReadiness({ ...mixed, store: { ok: false, error: 'down' } }, 'carts')).toMatchObject({ ready: false, failing: ['store'] });
  });
});
