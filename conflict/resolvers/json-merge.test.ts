import { describe, expect, it } from 'vitest';
import { type MergeContext, resolve } from '../resolve.js';
import { text, version } from '../testing.js';

const ctx: MergeContext = { keyspace: 'profiles', key: 'u-1', partition: 3, region: 'east', activeRegion: 'east' };
// incoming (west) has the higher HLC: it wins leaf conflicts
const cur = (value: string) => version({ east: 2, base: 1 }, { value, hlc: [5, 0] });
const inc = (value: string) => version({ west: 2, base: 1 }, { value, origin: 'west', hlc: [6, 0] });
const merge = (a: string, b: string, base?: string) =>
  resolve({ current: cur(a), incoming: inc(b), resolver: 'json-merge', ctx, ...(base !== undefined && { base: version({ base: 1 }, { value: base }) }) });

describe('json-merge resolver', () => {
  it('without a base: union of members, nested objects merged, leaf conflicts by lww, keys sorted', () => {
    const r = merge('{"name":"Ann","addr":{"city":"Oslo","zip":"1"},"tags":[1]}', '{"addr":{"city":"Bergen","street":"X"},"age":3,"tags":[2]}');
    expect(text(r.value)).toBe('{"addr":{"city":"Bergen","street":"X","zip":"1"},"age":3,"name":"Ann","tags":[2]}');
    expect(r).toMatchObject({ winner: 'merged', resolver: 'json-merge' });
  });

  it('with a base: one-sided changes win, including removals; two-sided changes by lww', () => {
    const base = '{"a":1,"b":1,"c":1,"d":{"x":1,"y":1}}';
    // current: removes a, changes c; incoming: changes b and c, adds y2 inside d, removes d.y
    const r = merge('{"b":1,"c":2,"d":{"x":1,"y":1}}', '{"a":1,"b":3,"c":3,"d":{"x":1,"y2":5}}', base);
    expect(text(r.value)).toBe('{"b":3,"c":3,"d":{"x":1,"y2":5}}');
  });

  it('a leaf conflict between a removal and a change goes to the lww winner', () => {
    // current (loser) changed k, incoming (winner) removed it
    expect(text(merge('{"k":2}', '{}', '{"k":1}').value)).toBe('{}');
    // reversed roles: current (loser) removed k, incoming (winner) changed it
    expect(text(merge('{}', '{"k":2}', '{"k":1}').value)).toBe('{"k":2}');
  });

  it('keeps a member whose value is null when only one side has it, in either argument order', () => {
    expect(text(merge('{"p":{}}', '{"n":null}').value)).toBe('{"n":null,"p":{}}');
    expect(text(merge('{"n":null}', '{"p":{}}').value)).toBe('{"n":null,"p":{}}');
  });

  it('keeps __proto__ and constructor as ordinary members', () => {
    const r = merge('{"__proto__":{"p":1},"constructor":1}', '{"__proto__":{"q":2}}');
    expect(text(r.value)).toBe('{"__proto__":{"p":1,"q":2},"constructor":1}');
  });

  it('falls back to lww when a side is not an object; an unusable base is noted', () => {
    expect(merge('[1]', '{"a":1}')).toMatchObject({ resolver: 'lww', note: 'json-merge: the current value is not a JSON object; resolved by lww' });
    expect(merge('{"a":1}', '{"a":2}', '[]').note).toBe('json-merge: the base is not a JSON object; merged without it');
  });

  it('treats values nested deeper than JSON_DEPTH_MAX as not JSON', () => {
    const deep = `{"a":${'['.repeat(100)}${']'.repeat(100)}}`;
    expect(merge(deep, '{"b":1}')).toMatchObject({ resolver: 'lww', winner: 'incoming' });
  });
});
