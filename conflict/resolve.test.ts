import { describe, expect, it } from 'vitest';
import { ResolverSpecError } from './errors.js';
import { EXPIRED_CONTENT_TYPE, expiredVersionOf, refreshesExpired } from './expired.js';
import { type MergeContext, type ResolveInput, parseResolver, resolve } from './resolve.js';
import { text, tombstone, version } from './testing.js';
import type { RecordVersion } from './types.js';
import { compareVv } from './vv.js';

const ctx: MergeContext = { keyspace: 'orders', key: 'o-1', partition: 7, region: 'east', activeRegion: 'east' };
const run = (current: RecordVersion, incoming: RecordVersion, resolver: string, more: Partial<ResolveInput> = {}) =>
  resolve({ current, incoming, resolver, ctx, ...more });

// Concurrent pair with shared history: east wrote at hlc 2000, west at 1500.
const east = version({ east: 2, west: 1 }, { origin: 'east', hlc: [2000, 0], value: '"east"' });
const west = version({ east: 1, west: 2 }, { origin: 'west', hlc: [1500, 3], value: '"west"' });

describe('parseResolver', () => {
  it('knows the built-ins and trigger:<name>, and names an unknown one', () => {
    expect(parseResolver('json-merge')).toEqual({ kind: 'json-merge' });
    expect(parseResolver('trigger:refund')).toEqual({ kind: 'trigger', name: 'refund' });
    expect(() => parseResolver('newest')).toThrow(ResolverSpecError);
    expect(() => parseResolver('trigger:')).toThrow(/unknown resolver "trigger:"/);
  });
});

describe('resolve: the new version', () => {
  it('dominates both inputs, bumps the resolving region, carries the winner\'s write stamp', () => {
    const r = run(east, west, 'lww', { ctx: { ...ctx, region: 'north' } });
    expect(r.version.vv).toEqual({ east: 2, west: 2, north: 1 });
    expect(compareVv(r.version.vv, east.vv)).toBe('after');
    expect(compareVv(r.version.vv, west.vv)).toBe('after');
    expect(r.version.hlc).toEqual([2000, 0]); // east's write, not the time of resolution
    expect(r.version.origin).toBe('east');
    expect(r.resolvedHlc).toEqual([2000, 1]);
    expect(r.version.epoch).toBe(1);
  });

  it('carries the expiry of the side whose content it keeps (or none), never one of a merged value', () => {
    const eastX = { ...east, expiresAtMs: 9_000 };
    const westX = { ...west, expiresAtMs: 5_000 };
    expect(run(eastX, westX, 'lww').version.expiresAtMs).toBe(9_000); // east's later write, its expiry
    expect(run(westX, eastX, 'lww').version.expiresAtMs).toBe(9_000); // whichever side is current
    expect(run(east, westX, 'lww').version.expiresAtMs).toBeUndefined(); // the later write persists
    expect(run(eastX, westX, 'source-wins', { ctx: { ...ctx, activeRegion: 'west' } }).version.expiresAtMs).toBe(5_000);
    const setA = version({ east: 2, west: 1 }, { origin: 'east', hlc: [2000, 0], value: '["a"]' });
    const setB = version({ east: 1, west: 2 }, { origin: 'west', hlc: [1500, 0], value: '["b"]' });
    expect(run({ ...setA, expiresAtMs: 9_000 }, setB, 'set').version.expiresAtMs).toBeUndefined();
    expect(run({ ...eastX, tombstone: true, value: new Uint8Array(0) }, westX, 'lww').version.expiresAtMs).toBeUndefined();
  });

  it('the time of resolution never stamps below the resolving region clock; the given epoch is carried', () => {
    const r = run(east, west, 'lww', { ctx: { ...ctx, hlcFloor: [3000, 4], epoch: 9 } });
    expect(r.resolvedHlc).toEqual([3000, 5]);
    expect(r.version.hlc).toEqual([2000, 0]);
    expect(r.version.epoch).toBe(9);
  });

  it('a merged value carries the lww winner\'s stamp', () => {
    const a = version({ east: 1 }, { origin: 'east', hlc: [10, 0], value: '["a"]' });
    const b = version({ west: 1 }, { origin: 'west', hlc: [20, 0], value: '["b"]' });
    const r = run(a, b, 'set', { ctx: { ...ctx, hlcFloor: [99, 0] } });
    expect(text(r.value)).toBe('["a","b"]');
    expect([r.version.hlc, r.version.origin]).toEqual([[20, 0], 'west']);
  });

  it('a merged value over limits.valueBytesMax is not stored: lww decides, the other side is journaled, same for both orders', () => {
    const members = (prefix: string) => JSON.stringify(Array.from({ length: 40 }, (_, i) => `${prefix}-${i}`));
    const a = version({ east: 1 }, { origin: 'east', hlc: [10, 0], value: members('a') });
    const b = version({ west: 1 }, { origin: 'west', hlc: [20, 0], value: members('b') });
    const limit = Math.max(a.value.byteLength, b.value.byteLength) + 10; // each side fits, their union does not
    const within = run(a, b, 'set', { ctx: { ...ctx, valueBytesMax: 4 * limit } });
    expect(within.winner).toBe('merged');
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const r = run(x, y, 'set', { ctx: { ...ctx, valueBytesMax: limit } });
      expect(r.winner).not.toBe('merged');
      expect(text(r.value)).toBe(members('b')); // west's write is the later one
      expect(r.value.byteLength).toBeLessThanOrEqual(limit);
      expect(r.loser && text(r.loser.value)).toBe(members('a'));
      expect(r.resolver).toBe('lww');
      expect(r.note).toMatch(/set: merged value of \d+ bytes over limits.valueBytesMax \d+; resolved by lww/);
      expect(r.journal).toBe(true);
    }
  });

  it('names the conflict the same way for both argument orders', () => {
    expect(run(east, west, 'lww').conflictId).toBe(run(west, east, 'lww').conflictId);
    expect(run(east, west, 'lww').conflictId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a pair that is not concurrent (programmer error)', () => {
    expect(() => run(east, version({ east: 3, west: 1 }), 'lww')).toThrow(/concurrent pair, got after/);
    expect(() => run(east, east, 'lww')).toThrow(/got equal/);
  });
});

describe('lww', () => {
  it('keeps the higher HLC and records the loser', () => {
    const r = run(west, east, 'lww');
    expect(r).toMatchObject({ winner: 'incoming', resolver: 'lww', configured: 'lww', type: 'state-conflict', journal: true, actions: [] });
    expect(text(r.value)).toBe('"east"');
    expect(r.loser).toBe(west);
  });

  it('breaks an HLC tie by region id (the greater id wins)', () => {
    const a = version({ east: 1 }, { origin: 'east', hlc: [5, 5], value: 'a' });
    const b = version({ west: 1 }, { origin: 'west', hlc: [5, 5], value: 'b' });
    expect(text(run(a, b, 'lww').value)).toBe('b');
    expect(text(run(b, a, 'lww').value)).toBe('b');
  });

  it('lets a newer delete win a delete-vs-update, and an older one lose', () => {
    const del = tombstone({ east: 1, west: 2 }, { origin: 'west', hlc: [2500, 0] });
    const r = run(east, del, 'lww');
    expect(r).toMatchObject({ type: 'delete-vs-update', tombstone: true, winner: 'incoming' });
    expect(r.value.length).toBe(0);
    expect(run(east, { ...del, hlc: [100, 0] }, 'lww')).toMatchObject({ tombstone: false, winner: 'current' });
  });
});

describe('two concurrent tombstones', () => {
  it('resolve to a tombstone dominating both, not journaled, whatever the resolver', () => {
    const a = tombstone({ east: 2, west: 1 }, { hlc: [10, 0] });
    const b = tombstone({ east: 1, west: 2 }, { origin: 'west', hlc: [20, 0] });
    for (const resolver of ['lww', 'counter', 'set', 'json-merge', 'source-wins', 'trigger:absent']) {
      const r = run(a, b, resolver);
      expect(r).toMatchObject({ tombstone: true, type: 'delete-vs-delete', journal: false, resolver: 'tombstones', actions: [] });
      expect(r.version.vv).toEqual({ east: 3, west: 2 });
      expect(r.error).toBeUndefined();
    }
  });
});

describe('source-wins', () => {
  it('normal merge: the partition active region version wins, even if older', () => {
    const r = run(east, west, 'source-wins', { ctx: { ...ctx, activeRegion: 'west' } });
    expect(r).toMatchObject({ winner: 'incoming', resolver: 'source-wins' });
    expect(text(r.value)).toBe('"west"');
  });

  it('operator restore: the named source region wins over the active region', () => {
    const r = run(east, west, 'source-wins', { ctx: { ...ctx, activeRegion: 'east', restoreSource: 'west' } });
    expect(text(r.value)).toBe('"west"');
  });

  it('a tombstone from the source wins too', () => {
    const del = tombstone({ east: 1, west: 2 }, { origin: 'west', hlc: [1, 0] });
    expect(run(east, del, 'source-wins', { ctx: { ...ctx, activeRegion: 'west' } })).toMatchObject({ tombstone: true });
  });

  it('falls back to lww when neither side (or both) is from the source, and says so', () => {
    const r = run(east, west, 'source-wins', { ctx: { ...ctx, activeRegion: 'north' } });
    expect(r).toMatchObject({ resolver: 'lww', configured: 'source-wins', winner: 'current' });
    expect(r.note).toMatch(/neither side is from source region "north"/);
    const both = run(east, { ...west, origin: 'east' }, 'source-wins');
    expect(both.note).toMatch(/both sides are from source region "east"/);
  });
});

describe('stale-epoch (fence keyspaces)', () => {
  const fresh = version({ east: 1, west: 2 }, { origin: 'west', epoch: 6, hlc: [100, 0], value: '"fresh"' });
  const stale = version({ east: 2, west: 1 }, { origin: 'east', epoch: 5, hlc: [900, 0], value: '"stale"' });

  it('the side at the current epoch wins under every built-in resolver', () => {
    for (const resolver of ['lww', 'source-wins', 'counter', 'set', 'json-merge']) {
      const r = run(stale, fresh, resolver, { ctx: { ...ctx, fenceEpoch: 6 } });
      expect(r).toMatchObject({ type: 'stale-epoch', resolver: 'epoch-fence', winner: 'incoming', journal: true });
      expect(r.loser).toBe(stale);
      expect(r.note).toMatch(/"east" wrote at epoch 5, the partition is at epoch 6/);
    }
  });

  it('a stale delete loses to a current update', () => {
    const staleDelete = tombstone(stale.vv, { origin: 'east', epoch: 5, hlc: [900, 0] });
    expect(run(fresh, staleDelete, 'lww', { ctx: { ...ctx, fenceEpoch: 6 } })).toMatchObject({ tombstone: false, winner: 'current' });
  });
});

describe('an expiry tombstone (the sweep\'s) against a live version', () => {
  // east wrote {east:1} with an expiry at 5000; the sweep at east tombstoned it: {east:2}, stamp 5000.0
  const sweep = (expired: string): RecordVersion => ({
    ...tombstone({ east: 2 }, { origin: 'east', hlc: [5_000, 0], contentType: EXPIRED_CONTENT_TYPE }),
    value: new TextEncoder().encode(expired),
  });

  it('loses to a refresh that dominates the version it expired, whatever the stamps and in both orders', () => {
    const refresh = version({ east: 1, west: 1 }, { origin: 'west', hlc: [4_900, 0], value: '"refreshed"' });
    for (const resolver of ['lww', 'source-wins']) {
      for (const [current, incoming, winner] of [[sweep('east:1'), refresh, 'incoming'], [refresh, sweep('east:1'), 'current']] as const) {
        const r = run(current, incoming, resolver);
        expect(r).toMatchObject({ type: 'delete-vs-update', winner, resolver: 'expiry-refresh', tombstone: false, journal: true });
        expect(text(r.value)).toBe('"refreshed"');
        expect(r.version.hlc).toEqual([4_900, 0]); // the refresh's own stamp
      }
    }
  });

  it('wins under lww against a write that never saw the version it expired (an earlier stamp)', () => {
    const blind = version({ west: 1 }, { origin: 'west', hlc: [4_900, 0], value: '"blind"' });
    expect(run(sweep('east:1'), blind, 'lww')).toMatchObject({ resolver: 'lww', winner: 'current', tombstone: true });
    expect(run(blind, sweep('east:1'), 'lww')).toMatchObject({ resolver: 'lww', winner: 'incoming', tombstone: true });
  });

  it('a resolution that keeps the expiry tombstone keeps its mark: a refresh that arrives later still wins', () => {
    const blind = version({ north: 1 }, { origin: 'north', hlc: [4_800, 0], value: '"blind"' });
    const kept = run(sweep('east:1'), blind, 'lww');
    expect(kept.tombstone).toBe(true);
    expect(expiredVersionOf(kept.version)).toEqual({ east: 1 });
    const refresh = version({ east: 1, west: 1 }, { origin: 'west', hlc: [4_900, 0], value: '"refreshed"' });
    expect(run(kept.version, refresh, 'lww')).toMatchObject({ resolver: 'expiry-refresh', winner: 'incoming', tombstone: false });
  });

  it('a client\'s delete is not an expiry tombstone: lww decides', () => {
    const del = tombstone({ east: 2 }, { origin: 'east', hlc: [5_000, 0] });
    const refresh = version({ east: 1, west: 1 }, { origin: 'west', hlc: [4_900, 0], value: '"refreshed"' });
    expect(expiredVersionOf(del)).toBeUndefined();
    expect(run(del, refresh, 'lww')).toMatchObject({ resolver: 'lww', winner: 'current' });
    expect(expiredVersionOf(sweep('east:1'))).toEqual({ east: 1 });
    expect(refreshesExpired(refresh, sweep('east:1'))).toBe(true);
    expect(refreshesExpired(refresh, sweep('east:2'))).toBe(false);
  });
});
