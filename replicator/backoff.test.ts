import { describe, expect, it } from 'vitest';
import { seededRandom } from '../infra/clock.js';
import { backoffDelayMs, backoffFor, DEFAULT_BACKOFF } from './backoff.js';

describe('backoffDelayMs', () => {
  it('grows exponentially and never exceeds maxMs', () => {
    const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([0, 1, 2, 3].map((a) => backoffDelayMs(a, noJitter, () => 0.5))).toEqual([100, 200, 400, 800]);
    expect(backoffDelayMs(10, noJitter, () => 0.5)).toBe(DEFAULT_BACKOFF.maxMs);
    expect(backoffDelayMs(10_000, noJitter, () => 0.5)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it('jitters within [base × (1 − jitter), base]', () => {
    const random = seededRandom(7);
    const delays = Array.from({ length: 500 }, () => backoffDelayMs(20, DEFAULT_BACKOFF, random));
    expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.maxMs * 0.5);
    expect(new Set(delays).size).toBeGreaterThan(10);
  });
});

describe('backoffFor', () => {
  it('caps the delay at unreachableMaxMs while the peer cannot be reached, keeps maxMs for refusals', () => {
    const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect(backoffDelayMs(10, backoffFor(noJitter, true), () => 0.5)).toBe(1_000);
    expect(backoffDelayMs(10, backoffFor(noJitter, false), () => 0.5)).toBe(DEFAULT_BACKOFF.maxMs);
    const { unreachableMaxMs: _none, ...withoutCap } = noJitter;
    expect(backoffDelayMs(10, backoffFor(withoutCap, true), () => 0.5)).toBe(DEFAULT_BACKOFF.maxMs);
  });
});
