import { describe, expect, it } from 'vitest';
import { bumpVv, compareVv, mergeVv, vvFromString, vvToString } from './vv.js';
import { compareHlc, receiveHlc, tickHlc } from './hlc.js';

describe('version vectors', () => {
  it('orders by happened-before and detects concurrency', () => {
    expect(compareVv({ a: 1 }, { a: 1 })).toBe('equal');
    expect(compareVv({ a: 1 }, { a: 2 })).toBe('before');
    expect(compareVv({ a: 2, b: 1 }, { a: 2 })).toBe('after');
    expect(compareVv({ a: 2 }, { b: 1 })).toBe('concurrent');
    expect(compareVv({}, { a: 0 })).toBe('equal');
  });
  it('merges pointwise and bumps one region', () => {
    expect(mergeVv({ a: 3, b: 1 }, { b: 4, c: 1 })).toEqual({ a: 3, b: 4, c: 1 });
    expect(bumpVv({ a: 3 }, 'b')).toEqual({ a: 3, b: 1 });
  });
  it('prints canonically and parses back', () => {
    expect(vvToString({ west: 2, east: 5, north: 0 })).toBe('east:5,west:2');
    expect(vvFromString('east:5,west:2')).toEqual({ east: 5, west: 2 });
    expect(vvFromString('east:x')).toBeNull();
    expect(vvFromString('')).toEqual({});
  });
});

describe('hybrid logical clock', () => {
  it('ticks forward with the wall clock and logically when it stalls', () => {
    expect(tickHlc([100, 3], 200)).toEqual([200, 0]);
    expect(tickHlc([100, 3], 50)).toEqual([100, 4]);
  });
  it('never goes backwards on receive', () => {
    const r = receiveHlc([100, 1], [150, 7], 120);
    expect(r).toEqual([150, 8]);
    expect(compareHlc(r, [150, 7])).toBeGreaterThan(0);
    expect(receiveHlc([100, 1], [90, 2], 300)).toEqual([300, 0]);
  });
});
