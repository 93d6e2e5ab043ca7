import { describe, expect, it } from 'vitest';
import { FakeClock } from '../infra/clock.js';
import { AckWaiters } from './acks.js';
import { AckWaitersFullError } from './errors.js';

describe('AckWaiters', () => {
  it('resolves true when acked, false on timeout', async () => {
    const clock = new FakeClock();
    const waiters = new AckWaiters('us', clock, 10);
    const early = waiters.wait(5, 100);
    const late = waiters.wait(9, 100);
    waiters.acked(6);
    expect(await early).toBe(true);
    clock.advance(100);
    expect(await late).toBe(false);
    expect(waiters.size()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('throws a typed error at waitersMax and fails all on link down', async () => {
    const clock = new FakeClock();
    const waiters = new AckWaiters('us', clock, 3);
    const pending = [waiters.wait(1, 1000), waiters.wait(2, 1000), waiters.wait(3, 1000)];
    expect(() => waiters.wait(4, 1000)).toThrow(AckWaitersFullError);
    waiters.failAll();
    expect(await Promise.all(pending)).toEqual([false, false, false]);
    expect(clock.pending()).toBe(0);
  });
});
