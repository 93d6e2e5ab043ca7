import { describe, expect, it } from 'vitest';
import { type MergeContext, resolve } from '../resolve.js';
import { text, tombstone, version } from '../testing.js';

const ctx: MergeContext = { keyspace: 'carts', key: 'c-1', partition: 2, region: 'east', activeRegion: 'east' };
const a = (value: string) => version({ east: 2, base: 1 }, { value, hlc: [5, 0] });
const b = (value: string) => version({ west: 2, base: 1 }, { value, origin: 'west', hlc: [6, 0] });
const base = (value: string) => version({ base: 1 }, { value });

describe('set resolver', () => {
  it('without a base: union, deduplicated by canonical JSON, sorted', () => {
    const r = resolve({ current: a('["x",{"a":1,"b":2},3]'), incoming: b('[3,{"b":2,"a":1},"y","y"]'), resolver: 'set', ctx });
    expect(r).toMatchObject({ winner: 'merged', resolver: 'set' });
    expect(text(r.value)).toBe('["x","y",3,{"a":1,"b":2}]');
  });

  it('with a base: removals on one side win over the other merely keeping; adds win', () => {
    // base {k, r1, r2}; current removed r1 and added a1; incoming removed r2 and added a2
    const r = resolve({ current: a('["k","r2","a1"]'), incoming: b('["k","r1","a2"]'), base: base('["k","r1","r2"]'), resolver: 'set', ctx });
    expect(text(r.value)).toBe('["a1","a2","k"]');
    expect(r.note).toBeUndefined();
  });

  it('a concurrent add beats a remove; a tombstoned base is the empty set', () => {
    const r = resolve({ current: a('[]'), incoming: b('["n"]'), base: base('["o"]'), resolver: 'set', ctx });
    expect(text(r.value)).toBe('["n"]');
    const t = resolve({ current: a('["p"]'), incoming: b('["q"]'), base: tombstone({ base: 1 }), resolver: 'set', ctx });
    expect(text(t.value)).toBe('["p","q"]');
  });

  it('an unusable base means a union (noted); a non-array side means lww (noted)', () => {
    const r = resolve({ current: a('["p"]'), incoming: b('["q"]'), base: base('{"no":1}'), resolver: 'set', ctx });
    expect(text(r.value)).toBe('["p","q"]');
    expect(r.note).toBe('set: the base is not a JSON array; merged as a union');
    const bad = resolve({ current: a('{"x":1}'), incoming: b('not json'), resolver: 'set', ctx });
    expect(bad).toMatchObject({ resolver: 'lww', winner: 'incoming', note: 'set: both values are not a JSON array; resolved by lww' });
  });
});
