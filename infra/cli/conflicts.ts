/**
 * `geogate conflicts`: the cluster-wide conflict journal (GET /v1/cluster/conflicts), one line
 * per conflict; `--follow` polls every region's own journal (GET /v1/conflicts?after=<cursor>,
 * region URLs from /v1/cluster) and prints new entries until SIGINT; `--ack` acknowledges at
 * each region what was read there (POST /v1/conflicts/ack), the consumer that keeps the
 * journal's bounds from evicting unread entries (docs/conflicts.md).
 */
import { parseArgs } from 'node:util';
import { CONNECTION_OPTIONS, connectionOf, EXIT_OK, EXIT_PROBLEM, getOk, intOption, postOk, towards, UsageError, type Connection } from './connection.js';

type Json = Record<string, unknown>;

export const FOLLOW_INTERVAL_MS_DEFAULT = 1000;
export const FOLLOW_INTERVAL_MS_MIN = 100;
export const FOLLOW_INTERVAL_MS_MAX = 60_000;
/** conflictIds remembered by --follow to print a conflict journaled in two regions once (oldest forgotten first). */
export const FOLLOW_DEDUPE_WINDOW = 10_000;
/** Entries read from one region per poll (the route's own bound). */
export const FOLLOW_PAGE = 1000;
/** Pages read to find a journal's end when following from now (1000 × 1000 entries, above any journal bound). */
export const FOLLOW_SKIP_PAGES_MAX = 1000;
const SINCE_SKEW_MS = 60_000;
/** Pages read from one region in one poll (a backlog is read over the next polls). */
export const FOLLOW_PAGES_PER_POLL_MAX = 10;

export interface Out {
  out(line: string): void;
  err(line: string): void;
}

export async function conflictsCommand(args: string[], io: Out, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...CONNECTION_OPTIONS,
      keyspace: { type: 'string' }, type: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string', default: '100' },
      follow: { type: 'boolean', default: false }, 'interval-ms': { type: 'string' }, ack: { type: 'boolean', default: false },
    },
  });
  const c = connectionOf(values);
  const limit = intOption('limit', values.limit, 1, 1000);
  const sinceMs = values.since === undefined ? undefined : parseSince(values.since);
  const filters = { keyspace: values.keyspace, type: values.type };
  if (values.ack && (values.keyspace !== undefined || values.type !== undefined)) {
    throw new UsageError('--ack acknowledges a prefix of each journal, so it cannot be combined with --keyspace or --type (it would acknowledge the entries those leave out)');
  }
  if (values['interval-ms'] !== undefined && !values.follow) throw new UsageError('--interval-ms goes with --follow');
  if (values.follow) {
    const intervalMs = values['interval-ms'] === undefined ? FOLLOW_INTERVAL_MS_DEFAULT : intOption('interval-ms', values['interval-ms'], FOLLOW_INTERVAL_MS_MIN, FOLLOW_INTERVAL_MS_MAX);
    return follow(c, io, signal, { sinceMs, filters, ack: values.ack, intervalMs, json: c.json });
  }
  const q = new URLSearchParams({ limit: String(limit) });
  if (values.keyspace !== undefined) q.set('keyspace', values.keyspace);
  if (values.type !== undefined) q.set('type', values.type);
  if (sinceMs !== undefined) q.set('since', String(sinceMs));
  const body = await getOk(c, `/v1/cluster/conflicts?${q.toString()}`);
  const conflicts = (body.conflicts as Json[] | undefined) ?? [];
  const regions = (body.regions as { region: string; url: string; ok: boolean; error?: string }[] | undefined) ?? [];
  if (c.json) io.out(JSON.stringify(body));
  else {
    for (const e of conflicts) io.out(conflictLine(e));
    io.out(`${conflicts.length} conflicts${body.truncated ? ` (more match: --since ${String(conflicts.at(-1)?.at ?? '')} or a larger --limit)` : ''}`);
  }
  const missing = regions.filter((r) => !r.ok);
  for (const r of missing) io.err(`geogate conflicts: ${r.region} did not answer at ${r.url}: ${r.error}; its journal is not in this list`);
  if (values.ack) {
    // per region, up to the newest entry of its own journal printed here
    for (const r of regions.filter((x) => x.ok)) {
      const mine = conflicts.filter((e) => e.region === r.region).map((e) => String(e.id));
      const last = mine.at(-1);
      if (last) await ack(towards(c, r.url), r.region, last, io);
    }
  }
  return missing.length > 0 ? EXIT_PROBLEM : EXIT_OK;
}

interface FollowOptions {
  sinceMs: number | undefined;
  filters: { keyspace?: string | undefined; type?: string | undefined };
  ack: boolean;
  intervalMs: number;
  json: boolean;
}

interface Source {
  region: string;
  conn: Connection;
  /** The journal id read up to ('' = from the start; undefined = its end not found yet). */
  cursor: string | undefined;
  /** What the last poll said (printed when it changes). */
  failing: string | null;
}

async function follow(c: Connection, io: Out, signal: AbortSignal, o: FollowOptions): Promise<number> {
  const cluster = await getOk(c, '/v1/cluster');
  const regions = (cluster.regions as { region: string; url: string }[] | undefined) ?? [];
  const sources: Source[] = regions.map((r) => ({ region: r.region, conn: towards(c, r.url), cursor: undefined, failing: null }));
  const seen = new BoundedSet(FOLLOW_DEDUPE_WINDOW);
  const where = o.sinceMs !== undefined ? `since ${new Date(o.sinceMs).toISOString()}` : o.ack ? 'from each journal\'s acknowledged id' : 'from now';
  io.err(`following the conflict journals of ${sources.map((s) => s.region).join(', ')} ${where}, every ${o.intervalMs} ms (Ctrl-C stops)`);
  while (!signal.aborted) {
    for (const s of sources) {
      if (signal.aborted) break;
      try {
        if (s.cursor === undefined) s.cursor = await startCursor(s, o);
        await pollOnce(s, o, io, seen);
        if (s.failing !== null) io.err(`geogate conflicts: ${s.region} answers again`);
        s.failing = null;
      } catch (err) {
        const why = (err as Error).message;
        if (s.failing !== why) io.err(`geogate conflicts: ${s.region} did not answer: ${why} (retrying every ${o.intervalMs} ms)`);
        s.failing = why;
      }
    }
    await sleep(o.intervalMs, signal);
  }
  return EXIT_OK;
}

async function startCursor(s: Source, o: FollowOptions): Promise<string> {
  if (o.sinceMs !== undefined) return `${Math.max(0, o.sinceMs - SINCE_SKEW_MS)}-0`;
  if (o.ack) {
    const first = await getOk(s.conn, '/v1/conflicts?limit=1', s.region);
    return typeof first.acked === 'string' ? first.acked : '';
  }
  // from now: the journal's end (paged: a route reads at most 1000 entries per request)
  let after = '';
  for (let i = 0; i < FOLLOW_SKIP_PAGES_MAX; i++) {
    const page = await getOk(s.conn, `/v1/conflicts?limit=${FOLLOW_PAGE}${after ? `&after=${after}` : ''}`, s.region);
    const next = typeof page.next === 'string' ? page.next : after;
    if (((page.conflicts as unknown[] | undefined) ?? []).length === 0 || next === after) return next;
    after = next;
  }
  throw new Error(`journal end not found within ${FOLLOW_SKIP_PAGES_MAX} pages`);
}

async function pollOnce(s: Source, o: FollowOptions, io: Out, seen: BoundedSet): Promise<void> {
  for (let page = 0; page < FOLLOW_PAGES_PER_POLL_MAX; page++) {
    const q = new URLSearchParams({ limit: String(FOLLOW_PAGE) });
    if (s.cursor) q.set('after', s.cursor);
    if (o.filters.keyspace !== undefined) q.set('keyspace', o.filters.keyspace);
    if (o.filters.type !== undefined) q.set('type', o.filters.type);
    const body = await getOk(s.conn, `/v1/conflicts?${q.toString()}`, s.region);
    const list = (body.conflicts as Json[] | undefined) ?? [];
    for (const e of list) {
      if (o.sinceMs !== undefined && !(Number(e.at) >= o.sinceMs)) continue;
      const id = typeof e.conflictId === 'string' ? e.conflictId : `${s.region}/${String(e.id)}`;
      if (!seen.add(id)) continue;
      const entry = { ...e, region: s.region };
      io.out(o.json ? JSON.stringify(entry) : conflictLine(entry));
    }
    const next = typeof body.next === 'string' ? body.next : s.cursor;
    const moved = next !== s.cursor;
    s.cursor = next;
    if (o.ack && moved && s.cursor) await ack(s.conn, s.region, s.cursor, io);
    if (!moved) return;
  }
}

async function ack(c: Connection, region: string, id: string, io: Out): Promise<void> {
  const res = await postOk(c, '/v1/conflicts/ack', { id }, region);
  if (!c.json) io.err(`acknowledged ${region}'s journal up to ${String(res.acked ?? id)}`);
}

/** `2026-12-02T20:17:25.744Z  east  carts/0/c-1  key-conflict  lww  kept incoming west:1 (west, 1 B), lost current east:1 (east, 1 B)` */
export function conflictLine(e: Json): string {
  const at = Number(e.at);
  const time = Number.isFinite(at) ? new Date(at).toISOString() : 'unknown';
  const where = `${String(e.keyspace)}/${String(e.partition)}/${String(e.key)}`;
  const side = (s: 'current' | 'incoming') => `${s} ${String(e[`${s}Version`] ?? '?')} (${String(e[`${s}Origin`] ?? '?')}${e[`${s}Tombstone`] === '1' ? ', deleted' : `, ${String(e[`${s}ValueBytes`] ?? '?')} B`})`;
  const winner = String(e.winner ?? 'unknown');
  const summary = winner === 'merged'
    ? `merged ${side('current')} + ${side('incoming')}`
    : winner === 'current' || winner === 'incoming'
      ? `kept ${side(winner)}, lost ${side(winner === 'current' ? 'incoming' : 'current')}`
      : `winner ${winner}`;
  const also = Array.isArray(e.alsoIn) && e.alsoIn.length > 0 ? ` (also in ${(e.alsoIn as string[]).join(', ')})` : '';
  return `${time}  ${String(e.region)}  ${where}  ${String(e.type)}  ${String(e.resolver)}  ${summary}${also}`;
}

export function parseSince(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new UsageError(`--since must be an ISO time (2026-01-02T03:04:05Z) or ms since the epoch, got "${text}"`);
  return ms;
}

/** Insertion-ordered set of at most `max` members: the oldest is forgotten first. */
export class BoundedSet {
  private readonly members = new Set<string>();
  constructor(readonly max: number) {}
  /** False when already a member. */
  add(k: string): boolean {
    if (this.members.has(k)) return false;
    this.members.add(k);
    if (this.members.size > this.max) this.members.delete(this.members.values().next().value!);
    return true;
  }
  get size(): number {
    return this.members.size;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done);
  });
}
