/**
 * GET /v1/conflicts?keyspace=&partition=&type=&since=&limit= — the conflict journal, oldest
 * first after `since` (a journal id), filtered. Bounded: `limit` ≤ 1000 and at most
 * SCAN_ENTRIES_MAX journal entries examined per request (`next` tells where to go on).
 */
import { Hono } from 'hono';
import { BadRequestError } from '../errors.js';
import type { ConflictStore } from '../store/index.js';

export const CONFLICTS_LIMIT_MAX = 1000;
export const SCAN_ENTRIES_MAX = 10_000;
const PAGE = 500;

export function conflictRoutes(conflicts: ConflictStore): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = c.req.query();
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > CONFLICTS_LIMIT_MAX) throw new BadRequestError(`limit must be an integer in [1, ${CONFLICTS_LIMIT_MAX}]`);
    if (q.partition !== undefined && !/^\d+$/.test(q.partition)) throw new BadRequestError('partition must be a non-negative integer');
    const since = q.since ?? '';
    if (since !== '' && !/^\d+-\d+$/.test(since)) throw new BadRequestError('since must be a journal id such as 1700000000000-0');
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
        out.push({ id: e.id, ...f });
        if (out.length >= limit) break;
      }
    }
    return c.json({ conflicts: out, next: cursor || null, total: await conflicts.journalLength() });
  });
  return app;
}
