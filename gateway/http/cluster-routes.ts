/**
 * The cluster as this region sees it and as its peers report it, for operators, the CLI and
 * the status page (docs/operations.md, "The cluster API"). Every peer is asked in parallel,
 * each request bounded by `timeoutMs` and CLUSTER_REPLY_BYTES_MAX; a peer that does not
 * answer is an entry with `ok: false` and why, never a failed request.
 *
 * GET /v1/cluster?timeoutMs=           — this region's /v1/status (computed here), then each peer's
 * GET /v1/cluster/conflicts?keyspace=&partition=&type=&since=&limit=&timeoutMs=
 *                                      — every region's conflict journal, merged, deduplicated by conflictId
 * GET /v1/cluster/decisions?limit=&timeoutMs=
 *                                      — every region's ownership decisions and the witness's, merged
 *
 * Peers are dialled at `peers[].url` as the replication links dial them (mutual TLS with the
 * peer's identity checked when `tls` is set); with `admin.protectReads` the caller's
 * `Authorization` header goes along (the same token guards the peers' reads).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Hono } from 'hono';
import type { GatewayContext } from './context.js';
import { conflictRoutes } from './conflict-routes.js';
import { BadRequestError, UnavailableError } from '../errors.js';
import { WitnessClient } from '../../witness/index.js';

export const DEFAULT_CLUSTER_TIMEOUT_MS = 1000;
export const CLUSTER_TIMEOUT_MS_MAX = 10_000;
/** The most one peer's reply may hold (a /v1/status of 3 keyspaces × 4096 partitions is about 2 MiB). */
export const CLUSTER_REPLY_BYTES_MAX = 16 * 1024 * 1024;
export const CLUSTER_LIMIT_MAX = 1000;
/** Cluster reads (fan-outs to every peer) served at once; more answer 503 overloaded. */
export const CLUSTER_FANOUTS_MAX = 8;
export const DEFAULT_CLUSTER_LIMIT = 100;
/** `since` reads each journal from this much before the time asked (journal ids are on Redis's clock, `at` on the gateway's). */
export const SINCE_SKEW_MS = 60_000;

type Json = Record<string, unknown>;
export type RegionReply = { region: string; url: string; ok: true; ms: number; body: Json } | { region: string; url: string; ok: false; ms: number; error: string };

export function clusterRoutes(ctx: GatewayContext, localStatus: () => Promise<Json>): Hono {
  const app = new Hono();
  const self = ctx.config.region;
  const selfUrl = ctx.config.publicUrl;
  const local = conflictRoutes(ctx.conflicts);

  /** `path` (with its query) at every peer, in parallel; this region's answer is `mine`. */
  let fanOuts = 0;
  const fanOut = async (c: { req: { header(n: string): string | undefined } }, path: string, timeoutMs: number, mine: () => Promise<Json>): Promise<RegionReply[]> => {
    // each fan-out may hold CLUSTER_REPLY_BYTES_MAX per peer: a bounded number at once
    if (fanOuts >= CLUSTER_FANOUTS_MAX) throw new UnavailableError(`more than ${CLUSTER_FANOUTS_MAX} cluster reads at once`, 'overloaded', 1);
    fanOuts++;
    try {
      return await fanOutOnce(c, path, timeoutMs, mine);
    } finally {
      fanOuts--;
    }
  };
  const fanOutOnce = async (c: { req: { header(n: string): string | undefined } }, path: string, timeoutMs: number, mine: () => Promise<Json>): Promise<RegionReply[]> => {
    const auth = ctx.config.admin.protectReads ? c.req.header('authorization') : undefined;
    const own = (async (): Promise<RegionReply> => {
      const t0 = performance.now();
      try {
        return { region: self, url: selfUrl, ok: true, ms: elapsed(t0), body: await mine() };
      } catch (err) {
        return { region: self, url: selfUrl, ok: false, ms: elapsed(t0), error: (err as Error).message };
      }
    })();
    const peers = ctx.config.peers.map(async (p): Promise<RegionReply> => {
      const url = p.publicUrl ?? p.url;
      const t0 = performance.now();
      const tls = /^https:/.test(p.url) ? ctx.dial?.peerTls?.(p.region) : undefined;
      // the admin token never crosses the WAN in clear (the links themselves put no secret on it)
      if (auth && !tls) return { region: p.region, url, ok: false, ms: 0, error: `not sending the admin token to ${p.url} over plain HTTP: read this region with admin.protectReads over TLS between sites (tls), or ask it directly` };
      try {
        const body = await getJson(p.url.replace(/\/+$/, '') + path, { timeoutMs, bytesMax: CLUSTER_REPLY_BYTES_MAX, ...(auth ? { authorization: auth } : {}), ...(tls ? { tls } : {}) });
        return { region: p.region, url, ok: true, ms: elapsed(t0), body };
      } catch (err) {
        return { region: p.region, url, ok: false, ms: elapsed(t0), error: (err as Error).message };
      }
    });
    return Promise.all([own, ...peers]);
  };

  app.get('/', async (c) => {
    const timeoutMs = parseTimeout(c.req.query('timeoutMs'));
    const replies = await fanOut(c, '/v1/status', timeoutMs, localStatus);
    return c.json({
      region: self,
      regions: replies.map((r) => (r.ok ? { region: r.region, url: r.url, ok: true, ms: r.ms, status: r.body } : { region: r.region, url: r.url, ok: false, ms: r.ms, error: r.error })),
    });
  });

  app.get('/conflicts', async (c) => {
    const q = c.req.query();
    const timeoutMs = parseTimeout(q.timeoutMs);
    const limit = parseLimit(q.limit);
    const sinceMs = parseSince(q.since);
    if (q.partition !== undefined && !/^\d+$/.test(q.partition)) throw new BadRequestError('partition must be a non-negative integer');
    const params = new URLSearchParams({ limit: String(limit) });
    // each journal is read from a little before `since` on its ids (Redis's clock) and filtered
    // on the entries' own `at` by the region itself, so its page holds only what is asked for
    if (sinceMs !== undefined) {
      params.set('after', `${Math.max(0, sinceMs - SINCE_SKEW_MS)}-0`);
      params.set('atFrom', String(sinceMs));
    }
    for (const f of ['keyspace', 'partition', 'type'] as const) if (q[f] !== undefined) params.set(f, q[f]);
    const query = `?${params.toString()}`;
    const replies = await fanOut(c, `/v1/conflicts${query}`, timeoutMs, async () => {
      const res = await local.request(`/${query}`);
      const body = await res.json() as Json;
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${errorMessage(body)}`);
      return body;
    });
    const merged = mergeConflicts(replies, sinceMs, limit);
    return c.json({
      conflicts: merged.conflicts, truncated: merged.truncated,
      regions: replies.map((r) => (r.ok
        ? { region: r.region, url: r.url, ok: true, total: r.body.total ?? null, acked: r.body.acked ?? null, next: r.body.next ?? null }
        : { region: r.region, url: r.url, ok: false, error: r.error })),
    });
  });

  app.get('/decisions', async (c) => {
    const q = c.req.query();
    const timeoutMs = parseTimeout(q.timeoutMs);
    const limit = parseLimit(q.limit);
    const fromWitness = witnessDecisions(timeoutMs);
    const replies = await fanOut(c, '/v1/decisions', timeoutMs, async () => ({ region: self, decisions: ctx.decisions(CLUSTER_LIMIT_MAX) }));
    const w = await fromWitness;
    return c.json({
      decisions: mergeDecisions(replies, w.ok ? w.decisions : [], limit),
      regions: replies.map((r) => (r.ok ? { region: r.region, url: r.url, ok: true } : { region: r.region, url: r.url, ok: false, error: r.error })),
      witness: w,
    });
  });

  /** The witness's decision log, by a signed request as the ownership agent makes them (null without a witness). */
  async function witnessDecisions(timeoutMs: number): Promise<{ ok: true; url: string; decisions: Json[] } | { ok: false; url: string | null; error: string }> {
    const url = ctx.config.witness?.url;
    const transport = ctx.dial?.witness;
    if (!url) return { ok: false, url: null, error: 'no witness configured' };
    if (!transport || !ctx.dial) return { ok: false, url, error: 'this region cannot sign witness requests' };
    const dial = ctx.dial;
    // one client per read: its TLS pool is closed right after (nothing outlives the request)
    const witness = new WitnessClient({
      url, secret: transport.secret, nowMs: () => dial.nowMs(), timeoutMs,
      ...(transport.tls ? { tls: transport.tls.options, tlsVersion: transport.tls.version } : {}),
    });
    try {
      const body = await withTimeout(witness.decisions(), timeoutMs) as Json;
      const list = Array.isArray(body.decisions) ? (body.decisions as Json[]) : [];
      return { ok: true, url, decisions: list.slice(-CLUSTER_LIMIT_MAX) };
    } catch (err) {
      return { ok: false, url, error: (err as Error).message };
    } finally {
      witness.close();
    }
  }
  return app;
}

/** Dedup by `conflictId` (the same in every region for one conflict); oldest first, the first `limit`. */
export function mergeConflicts(replies: readonly RegionReply[], sinceMs: number | undefined, limit: number): { conflicts: Json[]; truncated: boolean } {
  const byId = new Map<string, Json>();
  for (const r of replies) {
    if (!r.ok) continue;
    const list = Array.isArray(r.body.conflicts) ? (r.body.conflicts as Json[]) : [];
    for (const e of list) {
      const at = Number(e.at);
      if (sinceMs !== undefined && !(at >= sinceMs)) continue;
      const id = typeof e.conflictId === 'string' ? e.conflictId : `${r.region}/${String(e.id)}`;
      const seen = byId.get(id);
      if (!seen) byId.set(id, { ...e, region: r.region });
      else (seen.alsoIn as string[] | undefined)?.push(r.region) ?? (seen.alsoIn = [r.region]);
    }
  }
  const all = [...byId.values()].sort((a, b) => Number(a.at) - Number(b.at) || String(a.conflictId).localeCompare(String(b.conflictId)));
  // more may exist than shown: the union is over `limit`, or some journal filled its page
  // (its next entries were not read; the dedupe may have shrunk the union below `limit`)
  const pageFull = replies.some((r) => r.ok && Array.isArray(r.body.conflicts) && (r.body.conflicts as unknown[]).length >= limit);
  return { conflicts: all.slice(0, limit), truncated: all.length > limit || pageFull };
}

/**
 * One line per ownership change (keyspace, partition, epoch): the regions that saw it, and the
 * witness's reason and detail when it has them. Oldest first, the newest `limit`.
 */
export function mergeDecisions(replies: readonly RegionReply[], fromWitness: readonly Json[], limit: number): Json[] {
  const byKey = new Map<string, Json & { seenBy: string[] }>();
  const keyOf = (e: Json) => `${String(e.keyspace)}/${String(e.partition)}@${String(e.epoch)}`;
  for (const w of fromWitness) {
    byKey.set(keyOf(w), {
      at: Number(w.atMs), keyspace: w.keyspace, partition: w.partition, epoch: w.epoch, owner: w.toOwner, previous: w.fromOwner ?? null,
      reason: w.reason ?? null, detail: w.detail ?? null, requester: w.requester ?? null, seenBy: ['witness'],
    });
  }
  for (const r of replies) {
    if (!r.ok) continue;
    const list = Array.isArray(r.body.decisions) ? (r.body.decisions as Json[]) : [];
    for (const d of list) {
      const k = keyOf(d);
      const seen = byKey.get(k);
      if (seen) { if (!seen.seenBy.includes(r.region)) seen.seenBy.push(r.region); continue; }
      byKey.set(k, { at: Number(d.at), keyspace: d.keyspace, partition: d.partition, epoch: d.epoch, owner: d.owner, previous: d.previous ?? null, reason: null, detail: null, requester: null, seenBy: [r.region] });
    }
  }
  const all = [...byKey.values()].sort((a, b) => Number(a.at) - Number(b.at) || keyOf(a).localeCompare(keyOf(b)));
  return all.slice(Math.max(0, all.length - limit));
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CLUSTER_TIMEOUT_MS;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > CLUSTER_TIMEOUT_MS_MAX) throw new BadRequestError(`timeoutMs must be an integer in [1, ${CLUSTER_TIMEOUT_MS_MAX}]`);
  return n;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CLUSTER_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > CLUSTER_LIMIT_MAX) throw new BadRequestError(`limit must be an integer in [1, ${CLUSTER_LIMIT_MAX}]`);
  return n;
}

/** An ISO time or ms since the epoch. */
export function parseSince(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new BadRequestError(`since must be an ISO time (2026-01-02T03:04:05Z) or ms since the epoch, got "${text.slice(0, 64)}"`);
  return ms;
}

function errorMessage(body: Json): string {
  const e = body.error as { message?: string } | undefined;
  return e?.message ?? JSON.stringify(body).slice(0, 200);
}

function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export interface PeerGetOptions {
  readonly timeoutMs: number;
  readonly bytesMax: number;
  readonly authorization?: string;
  /** TLS options for an https:// URL (the peer dial: client certificate, CA, identity check). */
  readonly tls?: Record<string, unknown>;
}

/** One GET of a JSON body, bounded in time (the whole exchange) and size; an error says why in a few words. */
export function getJson(url: string, o: PeerGetOptions): Promise<Json> {
  const https = url.startsWith('https:');
  const request = https ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, body?: Json) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(body!);
    };
    const req = request(url, { method: 'GET', agent: false, headers: o.authorization ? { authorization: o.authorization } : {}, ...(https ? o.tls ?? {} : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > o.bytesMax) { finish(new Error(`reply over ${o.bytesMax} bytes`)); req.destroy(); } else chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Json;
        try { body = JSON.parse(text) as Json; } catch { return finish(new Error(`HTTP ${res.statusCode}: reply is not JSON`)); }
        if (res.statusCode !== 200) return finish(new Error(`HTTP ${res.statusCode}: ${errorMessage(body)}`));
        finish(null, body);
      });
      res.on('error', (err) => finish(describe(err)));
    });
    const timer = setTimeout(() => { finish(new Error(`timeout after ${o.timeoutMs} ms`)); req.destroy(); }, o.timeoutMs);
    req.on('error', (err) => finish(describe(err)));
    req.end();
  });
}

function describe(err: Error & { code?: string }): Error {
  if (err.code === 'ECONNREFUSED') return new Error('connection refused');
  if (err.code === 'ECONNRESET') return new Error('connection reset');
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new Error(`host not found (${err.code})`);
  return new Error(err.code ? `${err.message} (${err.code})` : err.message);
}
