/**
 * The one place that reads time and schedules timers. Everything else takes a `Clock`, so
 * tests and the simulation substitute `FakeClock` and replay runs exactly.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (for HLC stamps and logs). */
  nowMs(): number;
  /** Monotonic milliseconds (for leases, timeouts, failure detection). */
  monoMs(): number;
  /** Runs `fn` once after `ms`; never throws out of `fn` into the clock. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A manual clock: time moves only through `advance`. Timers fire in (time, creation) order. */
export class FakeClock implements Clock {
  private mono = 0;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(private wallOffsetMs = 1_700_000_000_000) {}

  nowMs(): number {
    return this.wallOffsetMs + this.mono;
  }
  monoMs(): number {
    return this.mono;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }
  /** Shifts the wall clock only (clock skew); monotonic time is untouched. */
  skewWall(ms: number): void {
    this.wallOffsetMs += ms;
  }
  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.mono = next.at;
      this.timers = this.timers.filter((t) => t !== next);
      if (!next.cancelled) next.fn();
    }
    this.mono = end;
  }
  /** Number of timers still pending (for tests asserting cleanup). */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
  private nextDue(end: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (t.at > end) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Deterministic PRNG (mulberry32) for jitter and simulations; seeded, replayable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The process's randomness source (jitter); tests and the simulation pass `seededRandom`. */
export const realRandom = (): number => Math.random();
