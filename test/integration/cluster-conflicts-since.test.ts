/**
 * GET /v1/cluster/conflicts?since= reads each journal from
 * since - SINCE_SKEW_MS (60 s) with the caller's `limit`, and only then drops the entries whose
 * `at` is before `since`: a journal with `limit` or more entries in the minute before `since`
 * filled the page with entries that were all dropped, and the entries after `since` never came
 * back (`truncated: false`). Each region now filters on `at` itself (atFrom).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRegion } from '../helpers/cluster.js';

let region: Awaited<ReturnType<typeof startRegion>>;

beforeAll(async () => { region = await startRegion('east', ['east']); }, 60_000);
afterAll(async () => { await region?.stop(); });

describe('/v1/cluster/conflicts since', () => {
  it('returns the entries after `since` even when the minute before it is busy', async () => {
    const redis = new Redis(region.redis.url);
    const journal = `${region.config.redis.keyPrefix}conflicts`;
    const t0 = Date.now();
    // a heal's burst: 20 conflicts resolved at t0, then 3 more 30 s later (their `at`)
    for (let i = 0; i < 20; i++) await redis.xadd(journal, '*', 'conflictId', `burst-${i}`, 'at', String(t0), 'keyspace', 'carts', 'type', 'key-conflict', 'sz', '100');
    for (let i = 0; i < 3; i++) await redis.xadd(journal, '*', 'conflictId', `later-${i}`, 'at', String(t0 + 30_000), 'keyspace', 'carts', 'type', 'key-conflict', 'sz', '100');
    await redis.quit();
    const res = await fetch(`${region.gateway.url}/v1/cluster/conflicts?since=${t0 + 10_000}&limit=10`);
    const body = await res.json() as { conflicts: { conflictId: string }[]; truncated: boolean };

    expect(res.status).toBe(200);
    expect(body.conflicts.map((c) => c.conflictId)).toEqual(['later-0', 'later-1', 'later-2']);
    expect(body.truncated).toBe(false);
    // a page that fills at `limit` says more may exist
    const full = await (await fetch(`${region.gateway.url}/v1/cluster/conflicts?limit=5`)).json() as { conflicts: unknown[]; truncated: boolean };
    expect(full.conflicts).toHaveLength(5);
    expect(full.truncated).toBe(true);
  });
});
