/**
 * Session tokens at the gateway (docs/client.md): every kv answer carries this region's
 * position (`x-geogate-session`: its own log head and, per peer, how far it applied that
 * peer's log); a read that carries a token waits until the region applied that much of
 * every origin the token names — woken by the apply path (AppliedFrontier.onApplied), at
 * most `session.waitMs`, at most `session.waitersMax` reads waiting at once — else 503.
 */
import type { Context } from 'hono';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BadRequestError, StoreUnavailableError, UnavailableError } from '../errors.js';
import type { RegionStore } from '../store/index.js';
import type { GatewayContext } from './context.js';
import { SESSION_HEADER, formatSessionToken, parseSessionToken, type SessionEntry } from '../../client/session.js';

export interface SessionLimits {
  readonly waitMs: number;
  readonly waitersMax: number;
}

/** A read with `x-geogate-session` waits (bounded) until this region applied what the token names; 400 on a bad token. */
export async function awaitSession(ctx: GatewayContext, c: Context): Promise<void> {
  const gate = sessionOf(ctx);
  const need = gate.parse(c);
  if (!need) return;
  tokenReads.set(c.req.raw, ctx.store.frontier.generation);
  await gate.waitFor(need);
}

/** Reads that carried a token: the frontier's generation when they were checked. */
const tokenReads = new WeakMap<Request, number>();

/**
 * After the read: sets this region's token on the answer. A read that carried a token is
 * answered only if the store still holds its identity and did not lose its data since the
 * token was checked: a store flushed or rolled back under the gateway is noticed within a
 * second by the identity check, and in that second a read would pass the (in-memory) check
 * and return what the emptied store holds, older than the token promises. 503 store_reset
 * instead: the client retries.
 */
export async function answerSession(ctx: GatewayContext, c: Context): Promise<void> {
  const gen = tokenReads.get(c.req.raw);
  if (gen !== undefined) {
    const holds = await ctx.store.checkIdentity().catch(() => false);
    if (!holds || ctx.store.frontier.generation !== gen) {
      throw new UnavailableError('this region\'s store lost or rolled back its data while the session token was checked; retry (here or at another region)', 'store_reset', 1);
    }
  }
  return sessionOf(ctx).answer(c);
}

/** This gateway's gate. */
export function sessionOf(ctx: GatewayContext): SessionGate {
  return sessionGate(ctx.store, ctx.config.region, ctx.config.cluster.regions, ctx.config.session, ctx.metrics.registry);
}

/** One gate per store (so per gateway): the waiters' count is shared by its requests. */
const gates = new WeakMap<RegionStore, SessionGate>();

export function sessionGate(store: RegionStore, region: string, regions: readonly string[], limits: SessionLimits, registry?: Registry): SessionGate {
  let g = gates.get(store);
  if (!g) gates.set(store, (g = new SessionGate(store, region, regions, limits, registry)));
  return g;
}

/** While a read waits for its token, this region's Redis is read this often (what other instances applied or wrote). */
export const SESSION_POLL_MS = 50;

export type SessionReadOutcome = 'caught_up' | 'waited' | 'stale' | 'waiters_full';

export class SessionGate {
  private waiting = 0;
  private generation = 0;
  private seeded: Promise<void> | undefined;
  private head: Promise<void> | undefined;
  private polling: Promise<void> | undefined;
  private readonly regions: ReadonlySet<string>;

  private readonly reads: Counter<'outcome'> | undefined;

  constructor(private readonly store: RegionStore, private readonly region: string, regions: readonly string[], private readonly limits: SessionLimits, registry?: Registry) {
    this.regions = new Set(regions);
    if (registry) {
      this.reads = new Counter({
        name: 'geogate_session_reads_total', labelNames: ['outcome'], registers: [registry],
        help: 'Reads with x-geogate-session by outcome: caught_up (no wait), waited (then caught up), stale (503 session_stale), waiters_full (503)',
      });
      const waiting = new Gauge({
        name: 'geogate_session_waiting', help: 'Reads waiting now for this region to catch up with their session token (bounded by session.waitersMax)',
        registers: [registry],
      });
      this.setWaiting = (n) => waiting.set(n);
    }
  }

  private setWaiting: (n: number) => void = () => {};

  /** The request's token, checked (400 naming the header and the region); undefined without one. */
  parse(c: Context): SessionEntry[] | undefined {
    const header = c.req.header(SESSION_HEADER);
    if (header === undefined) return undefined;
    const entries = parseSessionToken(header.trim());
    if (typeof entries === 'string') throw new BadRequestError(`${SESSION_HEADER}: ${entries}`, 'bad_session_token');
    for (const e of entries) {
      if (!this.regions.has(e.region)) throw new BadRequestError(`${SESSION_HEADER}: region ${e.region} is not a cluster region`, 'bad_session_token');
    }
    return entries;
  }

  /**
   * Resolves once this region holds what `entries` names; 503 session_stale after
   * `session.waitMs` (naming what it lacks), 503 session_waiters_full over `waitersMax`.
   */
  async waitFor(entries: readonly SessionEntry[]): Promise<void> {
    let own: string;
    try {
      this.refresh();
      own = await this.ownIncarnation();
      await this.seed();
      await this.readHead();
    } catch (err) {
      throw new StoreUnavailableError(`the session token could not be checked: ${(err as Error).message}`);
    }
    let lacking = this.lacking(entries, own);
    if (lacking === null) { this.reads?.inc({ outcome: 'caught_up' }); return; }
    // what this process saw is not all the region holds: another instance of the region may
    // have written the own log further, and the coordinator applies the peers' logs
    try {
      await this.readRedis();
    } catch (err) {
      throw new StoreUnavailableError(`the session token could not be checked: ${(err as Error).message}`);
    }
    lacking = this.lacking(entries, own);
    if (lacking === null) { this.reads?.inc({ outcome: 'caught_up' }); return; }
    if (lacking.own || this.limits.waitMs === 0) { this.reads?.inc({ outcome: 'stale' }); throw stale(lacking.message); }
    if (this.waiting >= this.limits.waitersMax) {
      this.reads?.inc({ outcome: 'waiters_full' });
      throw new UnavailableError(`${this.limits.waitersMax} reads wait for this region to catch up already (session.waitersMax); ${lacking.message}`, 'session_waiters_full', 1);
    }
    this.setWaiting(++this.waiting);
    try {
      await new Promise<void>((resolve) => {
        const check = () => { if (this.lacking(entries, own) === null) done(); };
        const done = () => { clearTimeout(timer); clearInterval(poll); off(); resolve(); };
        // woken by this process's applies; and, for what other instances of the region apply,
        // by a read of Redis every SESSION_POLL_MS (one read per gate, whatever the waiters)
        const off = this.store.frontier.onApplied(check);
        const poll = setInterval(() => { this.readRedis().then(check, () => {}); }, SESSION_POLL_MS);
        const timer = setTimeout(done, this.limits.waitMs);
      });
    } finally {
      this.setWaiting(--this.waiting);
    }
    lacking = this.lacking(entries, own);
    this.reads?.inc({ outcome: lacking === null ? 'waited' : 'stale' });
    if (lacking !== null) throw stale(`after ${this.limits.waitMs} ms (session.waitMs): ${lacking.message}`);
  }

  /** This region's position now: its own log head, and per peer the incarnation it applied last and how far. */
  async token(): Promise<string> {
    this.refresh();
    await this.readHead();
    const entries: SessionEntry[] = [{ region: this.region, incarnation: await this.ownIncarnation(), seq: this.store.headSeq() }];
    for (const a of this.store.frontier.currentAll()) {
      if (a.origin !== this.region && this.regions.has(a.origin)) entries.push({ region: a.origin, incarnation: a.incarnation, seq: a.seq });
    }
    return formatSessionToken(entries);
  }

  /**
   * Sets the answer's `x-geogate-session`. When Redis does not answer for it (the first
   * token after a start reads the log head and incarnation) the answer goes without one:
   * the request itself succeeded, and the client keeps the token it had.
   */
  async answer(c: Context): Promise<void> {
    let token: string;
    try {
      token = await this.token();
    } catch {
      return;
    }
    c.header(SESSION_HEADER, token);
    c.header('x-geogate-region', this.region); // the client takes a new incarnation of a region's log only from that region
  }

  /** After the store lost its data (frontier.lost), what this gate cached of it is dropped. */
  private refresh(): void {
    if (this.generation === this.store.frontier.generation) return;
    this.generation = this.store.frontier.generation;
    this.seeded = undefined;
    this.head = undefined;
  }

  /** Right after a start (or a loss) the process has seen no seq of its own log yet: read its head once. */
  private async readHead(): Promise<void> {
    if (this.store.headSeq() !== 0) return;
    this.head ??= this.store.bounds().then((b) => this.store.noteSeqSeen(b.lastSeq), (err: unknown) => { this.head = undefined; throw err; });
    await this.head;
  }

  private lacking(entries: readonly SessionEntry[], ownIncarnation: string): { message: string; own: boolean } | null {
    for (const e of entries) {
      if (e.region === this.region) {
        // its own writes are in its own store; another incarnation of its log, or a seq above
        // its head, is data it lost
        if (this.store.frontier.ownPending) return { own: true, message: `${this.region}'s store lost its data; its log starts a new incarnation` };
        if (e.incarnation !== ownIncarnation) return { own: true, message: `the session saw incarnation ${e.incarnation} of ${e.region}'s log, which this region's store no longer holds (it is at ${ownIncarnation})` };
        if (e.seq > this.store.headSeq()) return { own: true, message: `the session saw seq ${e.seq} of ${e.region}'s log, which this region's store no longer holds (its log ends at ${this.store.headSeq()})` };
        continue;
      }
      const have = this.store.frontier.seq(e.region, e.incarnation);
      if (have < e.seq) return { own: false, message: `${this.region} applied ${e.region}'s log (incarnation ${e.incarnation}) to seq ${have}, the session needs seq ${e.seq}` };
    }
    return null;
  }

  /** This region's log incarnation: the newest either store of the gateway saw in Redis. */
  private async ownIncarnation(): Promise<string> {
    return this.store.frontier.ownIncarnation ?? await this.store.incarnation();
  }

  /**
   * The region's own log head and applied seqs as Redis holds them now, into what this
   * process knows (its head, its frontier): one read in flight per gate, shared by the reads
   * that wait. The applied seqs only rise (a store that lost them bumps the generation).
   */
  private readRedis(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const generation = this.store.frontier.generation;
        const [{ head }, all] = await Promise.all([this.store.logHeadAndIncarnation(), this.store.appliedAll()]);
        if (generation !== this.store.frontier.generation) return; // read across a loss: says nothing of now
        this.store.noteSeqSeen(head);
        this.store.frontier.seed(all);
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  /** The store's applied seqs as Redis holds them, once (the applies since keep the frontier current). */
  private seed(): Promise<void> {
    this.seeded ??= this.store.appliedAll().then((all) => this.store.frontier.seed(all), (err: unknown) => { this.seeded = undefined; throw err; });
    return this.seeded;
  }
}

function stale(message: string): UnavailableError {
  return new UnavailableError(`session token not caught up with: ${message}`, 'session_stale', 1);
}
