import { describe, expect, it } from 'vitest';
import { type MergeContext, resolve } from '../resolve.js';
import { text, tombstone, version } from '../testing.js';
import { EMPTY_COUNTER, addToCounter, counterTotal, encodeCounter, mergeCounters, parseCounter } from './counter.js';

const ctx: MergeContext = { keyspace: 'likes', key: 'post-1', partition: 1, region: 'east', activeRegion: 'east' };
const enc = (s: string) => new TextEncoder().encode(s);

describe('PN-counter format', () => {
  it('parses the documented format and totals p minus n', () => {
    const c = parseCounter(enc('{"p":{"east":5},"n":{"west":2}}'));
    expect(c).toEqual({ p: { east: 5 }, n: { west: 2 } });
    expect(counterTotal(c!)).toBe(3);
    expect(parseCounter(enc('{}'))).toEqual(EMPTY_COUNTER);
  });

  it('refuses anything else', () => {
    for (const bad of ['42', '[1]', '{"p":{"east":-1}}', '{"p":{"east":1.5}}', '{"p":[]}', '{"p":{},"x":1}', '{"n":{"w":"2"}}', 'nope', '\xff']) {
      expect(parseCounter(enc(bad)), bad).toBeUndefined();
    }
  });

  it('adds and subtracts per region, merges by pointwise max, encodes canonically', () => {
    let c = addToCounter(EMPTY_COUNTER, 'west', 4);
    c = addToCounter(c, 'east', -1);
    expect(c).toEqual({ p: { west: 4 }, n: { east: 1 } });
    const m = mergeCounters(c, { p: { west: 2, east: 7 }, n: {} });
    expect(m).toEqual({ p: { east: 7, west: 4 }, n: { east: 1 } });
    expect(new TextDecoder().decode(encodeCounter(m))).toBe('{"n":{"east":1},"p":{"east":7,"west":4}}');
    expect(() => addToCounter(c, 'east', 0.5)).toThrow(/safe integer/);
  });
});

describe('counter resolver', () => {
  it('merges concurrent increments without losing any', () => {
    const a = version({ east: 2, west: 1 }, { value: '{"p":{"east":5,"west":1}}' });
    const b = version({ east: 1, west: 2 }, { origin: 'west', value: '{"p":{"east":4,"west":3},"n":{"west":2}}' });
    const r = resolve({ current: a, incoming: b, resolver: 'counter', ctx });
    expect(r).toMatchObject({ winner: 'merged', resolver: 'counter', tombstone: false });
    expect(r.loser).toBeUndefined();
    expect(counterTotal(parseCounter(r.value)!)).toBe(5 + 3 - 2);
  });

  it('falls back to lww for a value that is not a counter, and says which side', () => {
    const a = version({ east: 1 }, { hlc: [9, 0], value: '{"p":{"east":1}}' });
    const b = version({ west: 1 }, { origin: 'west', hlc: [1, 0], value: '"seven"' });
    const r = resolve({ current: a, incoming: b, resolver: 'counter', ctx });
    expect(r).toMatchObject({ resolver: 'lww', configured: 'counter', winner: 'current' });
    expect(r.note).toBe('counter: the incoming value is not a PN-counter; resolved by lww');
    expect(text(r.value)).toBe('{"p":{"east":1}}');
  });

  it('delete-vs-update: the update survives (add-wins)', () => {
    const live = version({ east: 1 }, { hlc: [1, 0], value: '{"p":{"east":1}}' });
    const r = resolve({ current: tombstone({ west: 1 }, { hlc: [9, 0] }), incoming: live, resolver: 'counter', ctx });
    expect(r).toMatchObject({ winner: 'incoming', resolver: 'update-wins', tombstone: false });
    expect(r.note).toMatch(/counter: an update concurrent with a delete survives/);
  });
});
