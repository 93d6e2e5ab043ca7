import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seededRandom } from '../clock.js';
import { admitBytes, releaseAtMs, sliceBytesMax, transmitDoneMs } from './schedule.js';

describe('releaseAtMs', () => {
  it('adds the delay', () => {
    expect(releaseAtMs({ nowMs: 100, previousReleaseMs: 0, delayMs: 50, jitterMs: 0, random: () => 0.9 })).toBe(150);
  });

  it('never releases before the previous chunk, and never before now + delay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), (seed, gapsMs, delayMs, jitterMs) => {
          const random = seededRandom(seed);
          let nowMs = 0;
          let previousReleaseMs = 0;
          for (const gapMs of gapsMs) {
            nowMs += gapMs;
            const at = releaseAtMs({ nowMs, previousReleaseMs, delayMs, jitterMs, random });
            expect(at).toBeGreaterThanOrEqual(previousReleaseMs);
            expect(at).toBeGreaterThanOrEqual(nowMs + delayMs);
            expect(at).toBeLessThanOrEqual(Math.max(previousReleaseMs, nowMs + delayMs + jitterMs));
            previousReleaseMs = at;
          }
        }),
    );
  });

  it('replays the same jitter for the same seed', () => {
    const run = (seed: number) => {
      const random = seededRandom(seed);
      return [0, 1, 2, 3].map((i) => releaseAtMs({ nowMs: i * 100, previousReleaseMs: 0, delayMs: 10, jitterMs: 80, random }));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
});

describe('transmitDoneMs', () => {
  it('is immediate without a bandwidth limit', () => {
    expect(transmitDoneMs({ readyMs: 10, linkFreeMs: 500, bytes: 1e6, bandwidthBytesPerSec: 0 })).toBe(10);
  });
  it('serialises chunks one after the other at the configured rate', () => {
    const first = transmitDoneMs({ readyMs: 0, linkFreeMs: 0, bytes: 1000, bandwidthBytesPerSec: 10_000 });
    expect(first).toBe(100);
    expect(transmitDoneMs({ readyMs: 20, linkFreeMs: first, bytes: 500, bandwidthBytesPerSec: 10_000 })).toBe(150);
    expect(transmitDoneMs({ readyMs: 400, linkFreeMs: first, bytes: 500, bandwidthBytesPerSec: 10_000 })).toBe(450);
  });
});

describe('sliceBytesMax / admitBytes', () => {
  it('slices to about 50 ms of bandwidth, at least one byte', () => {
    expect(sliceBytesMax(0)).toBe(65536);
    expect(sliceBytesMax(20_000)).toBe(1000);
    expect(sliceBytesMax(5)).toBe(1);
  });
  it('admits only what fits under the bound', () => {
    expect(admitBytes(0, 100, 1000)).toBe(100);
    expect(admitBytes(950, 100, 1000)).toBe(50);
    expect(admitBytes(1000, 100, 1000)).toBe(0);
  });
});
