import { describe, expect, it } from 'vitest';
import { COUNTER_FLOOR_PER_MS, COUNTER_FLOOR_STEP, counterFloorAboveAll, nextCounterFloor } from './region-store.js';

describe('nextCounterFloor', () => {
  const t0 = 1_790_000_000_000;
  it('the first floor is the wall clock in ms', () => {
    expect(nextCounterFloor(0, 0, t0 + 0.7)).toBe(t0);
  });

  it('later floors grow with the time since the previous raise, at least one ms worth', () => {
    expect(nextCounterFloor(t0, t0, t0 + 10)).toBe(t0 + 10 * COUNTER_FLOOR_PER_MS);
    expect(nextCounterFloor(t0, t0, t0)).toBe(t0 + COUNTER_FLOOR_PER_MS);
    expect(nextCounterFloor(t0, t0, t0 - 5)).toBe(t0 + COUNTER_FLOOR_PER_MS); // clock went back
    expect(nextCounterFloor(t0, 0, t0)).toBe(t0 + COUNTER_FLOOR_STEP); // persisted without its time
  });

  it('raised again from older data, the floor is above every floor raised after that data and what keys took since', () => {
    // the snapshot holds floor F0 (raised at a0); after it, two raises and writes; then the
    // store comes back with the snapshot and the floor is raised from F0 again
    const a0 = t0;
    const f0 = t0;
    const f1 = nextCounterFloor(f0, a0, a0 + 1_000);
    const f2 = nextCounterFloor(f1, a0 + 1_000, a0 + 1_003);
    const writesSince = 2_000; // to one key in the 500 ms before the crash
    const again = nextCounterFloor(f0, a0, a0 + 1_503);
    expect(again).toBeGreaterThan(f2 + writesSince);
    // with a fixed step the old data would hand out a lost floor again: f0 + step = f1
    expect(Math.max(a0 + 1_503, f0 + COUNTER_FLOOR_STEP)).toBe(Math.max(a0 + 1_000, f0 + COUNTER_FLOOR_STEP));
  });

  it('stays a safe integer for centuries of raises', () => {
    expect(Number.isSafeInteger(nextCounterFloor(t0, t0, t0 + 200 * 365 * 86_400_000))).toBe(true);
  });

  it('after a loss or rollback the floor is above every floor handed out before, whatever the old data kept', () => {
    // older data without any floor; after it, raises at t0, t0 + 1 s, t0 + 1.003 s and 2 000
    // writes to one key; then the store comes back without them (its floor: 0)
    const f1 = nextCounterFloor(0, 0, t0);
    const f2 = nextCounterFloor(f1, t0, t0 + 1_000);
    const f3 = nextCounterFloor(f2, t0 + 1_000, t0 + 1_003);
    const fromOldData = nextCounterFloor(0, 0, t0 + 1_500);
    expect(fromOldData).toBeLessThan(f3); // raised from the old data alone: too low
    expect(counterFloorAboveAll(t0 + 1_500)).toBeGreaterThan(f3 + 2_000);
    expect(counterFloorAboveAll(t0)).toBeGreaterThan(f1);
    expect(Number.isSafeInteger(counterFloorAboveAll(t0 + 200 * 365 * 86_400_000))).toBe(true);
    expect(String(counterFloorAboveAll(t0 + 200 * 365 * 86_400_000)).length).toBeLessThanOrEqual(16); // packed.ts: at most 16 digits
  });
});
