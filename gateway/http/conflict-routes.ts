/**
 * The conflict journal and the compensation dead letters, for consumers that read and
 * acknowledge (docs/conflicts.md, "Journal, outbox and dead letters").
 *
 * GET  /v1/conflicts?keyspace=&partition=&type=&after=&atFrom=&limit= — journal entries oldest
 *      first after `after` (a journal id; `since` is the same), filtered (`atFrom`: resolved at
 *      or after this time, ms since the epoch, on the entries' `at`). Bounded: `limit` ≤ 1000 and
 *      at most SCAN_ENTRIES_MAX entries examined per request (`next` tells where to go on).
 * POST /v1/conflicts/ack { "id": "<journal id>" } — everything up to `id` is acknowledged:
 *      the journal's bounds may drop it later without counting an eviction.
 * GET  /v1/conflicts/dead-letters?after=&limit= — compensating actions given up on.
 * POST /v1/conflicts/dead-letters/ack { "id": "<id>" } — removes the dead letters up to `id`.
 */
import { Hono } from 'hono';
import { BadRequestError } from '../errors.js';
import { AckBody, parseWith } from './api-schema.js';
import type { ConflictStore } from '../store/index.js';

export const CONFLICTS_LIMIT_MAX = 1000;
export const SCAN_ENTRIES_MAX = 10_000;
export const ACK_BODY_BYTES_MAX = 1024;
const PAGE = 500;
const STREAM_ID = /^\d+-\d+$/;

export function conflictRoutes(conflicts: ConflictStore): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = c.req.query();
    const limit = parseLimit(q.limit);
    if (q.partition !== undefined && !/^\d+$/.test(q.partition)) throw new BadRequestError('partition must be a non-negative integer');
    const since = parseAfter(q.after ?? q.since);
    const atFrom = q.atFrom === undefined ? undefined : Number(q.atFrom);
    if (atFrom !== undefined && !Number.isSafeInteger(atFrom)) throw new BadRequestError('atFrom must be a time in ms since the epoch');
    const out: Record<string, unknown>[] = [];
    let cursor = since;
    let scanned = 0;
    while (out.length < limit && scanned < SCAN_ENTRIES_MAX) {
      const page = await conflicts.readJournal(cursor, PAGE);
      if (page.length === 0) break;
      for (const e of page) {
        scanned++;
        cursor = e.id;
        const f = e.fields;
        if (q.keyspace !== undefined && f.keyspace !== q.keyspace) continue;
        if (q.partition !== undefined && f.partition !== q.partition) continue;
        if (q.type !== undefined && f.type !== q.type) continue;
        if (atFrom !== undefined && !(Number(f.at) >= atFrom)) continue;
        out.push({ id: e.id, ...f });
        if (out.length >= limit) break;
      }
    }
    const [total, acked] = await Promise.all([conflicts.journalLength(), conflicts.journalAcked()]);
    return c.json({ conflicts: out, next: cursor || null, total, acked: acked || null });
  });

  app.post('/ack', async (c) => {
    const id = await ackId(c.req.raw);
    return c.json({ acked: await conflicts.ackJournal(id) });
  });

  app.get('/dead-letters', async (c) => {
    const q = c.req.query();
    const rows = await conflicts.readDeadLetters(parseAfter(q.after), parseLimit(q.limit));
    return c.json({ deadLetters: rows, next: rows.at(-1)?.id ?? null, total: await conflicts.deadLetterLength() });
  });

  app.post('/dead-letters/ack', async (c) => {
    const id = await ackId(c.req.raw);
    return c.json({ removed: await conflicts.ackDeadLetters(id) });
  });
  return app;
}

function parseLimit(text: string | undefined): number {
  const limit = text === undefined ? 100 : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > CONFLICTS_LIMIT_MAX) throw new BadRequestError(`limit must be an integer in [1, ${CONFLICTS_LIMIT_MAX}]`);
  return limit;
}

function parseAfter(text: string | undefined): string {
  const after = text ?? '';
  if (after !== '' && !STREAM_ID.test(after)) throw new BadRequestError('after must be an id such as 1700000000000-0');
  return after;
}

async function ackId(req: Request): Promise<string> {
  const text = await req.text();
  if (text.length > ACK_BODY_BYTES_MAX) throw new BadRequestError(`ack body above ${ACK_BODY_BYTES_MAX} bytes`);
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { throw new BadRequestError('ack body must be JSON: { "id": "<id>" }'); }
  return parseWith(AckBody, raw, 'bad_request').id;
}
