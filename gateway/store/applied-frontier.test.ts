import { describe, expect, it } from 'vitest';
import { AppliedFrontier, FRONTIER_INCARNATIONS_MAX } from './region-store.js';

describe('AppliedFrontier (what a region applied of each origin, for session tokens)', () => {
  it('keeps the highest seq per origin and incarnation, and the incarnation applied last', () => {
    const f = new AppliedFrontier();
    f.applied('east', 'a1', 5);
    f.applied('east', 'a1', 3); // a batch of duplicates does not move it back
    expect(f.seq('east', 'a1')).toBe(5);
    f.applied('east', 'a2', 1);
    expect(f.currentAll()).toEqual([{ origin: 'east', incarnation: 'a2', seq: 1 }]);
    expect(f.seq('east', 'a1')).toBe(5); // the older incarnation is still known
    expect(f.seq('west', 'b1')).toBe(0);
  });

  it('seeds from the applied hash without marking a current incarnation; field names split at the last |', () => {
    const f = new AppliedFrontier();
    f.seed({ 'east|a1': 7, 'west|b1': 2, 'junk': 9 });
    expect(f.seq('east', 'a1')).toBe(7);
    expect(f.seq('west', 'b1')).toBe(2);
    expect(f.currentAll()).toEqual([]);
    f.applied('east', 'a1', 6);
    expect(f.seq('east', 'a1')).toBe(7);
  });

  it(`remembers at most ${FRONTIER_INCARNATIONS_MAX} incarnations per origin, the oldest dropped first`, () => {
    const f = new AppliedFrontier();
    for (let i = 0; i <= FRONTIER_INCARNATIONS_MAX; i++) f.applied('east', `i${i}`, i + 1);
    expect(f.seq('east', 'i0')).toBe(0);
    expect(f.seq('east', `i${FRONTIER_INCARNATIONS_MAX}`)).toBe(FRONTIER_INCARNATIONS_MAX + 1);
    expect(f.seq('east', 'i1')).toBe(2);
  });

  it('wakes its listeners after every applied batch; a removed one no more', () => {
    const f = new AppliedFrontier();
    let calls = 0;
    const off = f.onApplied(() => { calls++; });
    f.applied('east', 'a', 1);
    expect(calls).toBe(1);
    expect(f.listenerCount).toBe(1);
    off();
    f.applied('east', 'a', 2);
    expect(calls).toBe(1);
    expect(f.listenerCount).toBe(0);
  });
});
