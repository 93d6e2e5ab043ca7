import { describe, expect, it } from 'vitest';
import { RedisClock, REDIS_CLOCK_SAMPLES_MAX, redisTimeMs } from './redis-clock.js';

describe('RedisClock', () => {
  it('knows nothing before a sample', () => {
    expect(new RedisClock().toRedisMs(100)).toBeUndefined();
  });

  it('maps a deadline so that Redis time below it implies the monotonic deadline was not reached', () => {
    const c = new RedisClock();
    // Redis read 10_050 somewhere between mono 0 and 100: at mono x it reads >= 10_050 + x - 100
    c.record(0, 10_050, 100);
    expect(c.toRedisMs(1000)).toBe(10_950);
  });

  it('a delayed sample (Redis frozen) never moves the mapping later', () => {
    const c = new RedisClock();
    c.record(0, 10_000, 10); // offset >= 9990
    c.record(20, 10_030, 2000); // reply took ~2 s: lower bound 8030, upper 10_010
    expect(c.offsetMs()).toBe(9990);
  });

  it('restarts from the new sample when Redis clock stepped back', () => {
    const c = new RedisClock();
    c.record(0, 10_000, 10);
    c.record(100, 5_000, 110); // upper bound 4900 < 9990: the old bound is unsafe now
    expect(c.offsetMs()).toBe(4890);
  });

  it('keeps a bounded window of samples', () => {
    const c = new RedisClock();
    c.record(0, 10_000, 1); // best: 9999
    for (let i = 0; i < REDIS_CLOCK_SAMPLES_MAX; i++) c.record(10 + i, 10_000 + i, 20 + i); // 9980 each
    expect(c.offsetMs()).toBe(9980);
  });

  it('parses TIME', () => {
    expect(redisTimeMs(['1700000000', '123456'])).toBe(1_700_000_000_123);
  });
  it('reset forgets the old server: a clock behind it would otherwise map deadlines too late', () => {
    const c = new RedisClock();
    c.record(0, 50_000, 10); // old master: offset 49_990
    c.reset();
    expect(c.offsetMs()).toBeUndefined();
    c.record(100, 20_100, 110); // new master, 30 s behind
    expect(c.toRedisMs(1000)).toBe(20_990);
  });
});
