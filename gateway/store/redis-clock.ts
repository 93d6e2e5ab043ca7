/**
 * Maps the gateway's monotonic clock onto Redis's own clock (TIME), conservatively, so a
 * lease end measured here can be written into the store as an absolute deadline that the
 * write script compares with TIME.
 *
 * A sample is (t0, R, t1): monotonic time before sending TIME, Redis's reply, monotonic time
 * when the reply arrived. Redis read its clock at some instant in [t0, t1], so at any later
 * monotonic instant x Redis's clock reads at least R + (x − t1). Mapping a monotonic deadline
 * M to `M + (R − t1)` therefore guarantees: Redis time < mapped deadline ⇒ x < M. A delayed
 * sample (Redis frozen, network slow) only makes the mapping earlier, never later. Of the
 * recent samples the largest `R − t1` is the tightest bound that is still safe; a sample
 * whose upper bound `R − t0` is below it means Redis's clock stepped back (the bound is
 * rebuilt from that sample on). Clock rate differences over a lease are covered by the
 * lease's drift margin.
 */
export const REDIS_CLOCK_SAMPLES_MAX = 8;

interface Sample { readonly lower: number; readonly upper: number }

export class RedisClock {
  private samples: Sample[] = [];

  /** Records one TIME round trip: `redisMs` read between monotonic `t0Ms` and `t1Ms`. */
  record(t0Ms: number, redisMs: number, t1Ms: number): void {
    const s = { lower: redisMs - t1Ms, upper: redisMs - t0Ms };
    const best = this.offsetMs();
    if (best !== undefined && s.upper < best) this.samples = []; // Redis's clock went back
    this.samples.push(s);
    if (this.samples.length > REDIS_CLOCK_SAMPLES_MAX) this.samples.shift();
  }

  /**
   * Forgets every sample: the connection now reaches a Redis whose clock was never sampled
   * (a reconnect, which after a Sentinel failover is another server). Its clock may be behind
   * the old one's, and an old sample would then map deadlines later than they are there.
   */
  reset(): void {
    this.samples = [];
  }

  /** The safe offset (Redis ms − monotonic ms), or undefined before the first sample. */
  offsetMs(): number | undefined {
    if (this.samples.length === 0) return undefined;
    let best = Number.NEGATIVE_INFINITY;
    for (const s of this.samples) if (s.lower > best) best = s.lower;
    return best;
  }

  /** A monotonic deadline as a Redis-clock deadline (ms, floored), or undefined before the first sample. */
  toRedisMs(monoMs: number): number | undefined {
    const off = this.offsetMs();
    return off === undefined ? undefined : Math.floor(monoMs + off);
  }
}

/** Parses Redis's TIME reply ([seconds, microseconds]) as ms. */
export function redisTimeMs(reply: [string, string]): number {
  return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
}
