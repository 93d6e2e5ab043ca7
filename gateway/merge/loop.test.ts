import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../infra/clock.js';
import { WorkerLoop } from './loop.js';

describe('worker loop', () => {
  it('runs at start, then every period, never two rounds at once, and a kick during a round runs one more right after', async () => {
    const clock = new FakeClock();
    let rounds = 0;
    let active = 0;
    let release: (() => void) | undefined;
    const loop = new WorkerLoop(clock, 1000, async () => {
      rounds++;
      active++;
      expect(active).toBe(1);
      await new Promise<void>((r) => { release = r; });
      active--;
    });
    const settle = () => new Promise((r) => setImmediate(r));
    loop.start();
    clock.advance(0);
    expect(rounds).toBe(1);
    loop.kick();
    loop.kick(); // coalesced with the first kick
    clock.advance(0);
    expect(rounds).toBe(1); // still the same round
    release!();
    await settle();
    clock.advance(0);
    expect(rounds).toBe(2); // the kicked round, right after
    release!();
    await settle();
    clock.advance(999);
    expect(rounds).toBe(2);
    clock.advance(1);
    expect(rounds).toBe(3); // the periodic one
    loop.stop();
    release!();
    await settle();
    clock.advance(5000);
    expect(rounds).toBe(3);
    expect(clock.pending()).toBe(0);
  });
});
