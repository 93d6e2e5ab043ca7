/**
 * The reading region's own store loses its data. A read at west with a token from east's
 * answer passed as caught up (the in-memory frontier still said west applied east's log that
 * far) and returned what west's emptied Redis held: 404 for a key the session wrote, for the
 * second until the identity check noticed. Now the loss resets the frontier, and a read with a
 * token is answered only if the store still holds its identity after the read (503 store_reset).
 */
import { afterEach, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/cluster.js';
import { runCleanups, twoRegions, sleep } from '../helpers/two-regions.js';

const put = (base: string, key: string, body: string) => fetch(`${base}/v1/kv/carts/${key}`, { method: 'PUT', body });
const get = (base: string, key: string, session?: string) => fetch(`${base}/v1/kv/carts/${key}`, { headers: session ? { 'x-geogate-session': session } : {} });

afterEach(runCleanups);

it('a read at west with east\'s token after west\'s Redis lost its data: never older than the token', async () => {
  const { east, west } = await twoRegions({ appendOnly: true });
  const w = await put(east.gateway.url, 'ryw-loss', 'v1');
  expect(w.status).toBe(201);
  const token = w.headers.get('x-geogate-session')!;
  expect(await eventually(async () => (await get(west.gateway.url, 'ryw-loss', token)).status === 200)).toBe(true);
  const raw = new Redis(west.redis.url);
  const seen: string[] = [];
  try {
    await raw.flushall(); // west's data is gone under its running gateway
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      const r = await get(west.gateway.url, 'ryw-loss', token);
      const body = await r.text();
      seen.push(`${Date.now() - t0}ms ${r.status} ${r.status === 200 ? body : JSON.parse(body).error?.code}`);
      await sleep(100);
    }
  } finally {
    raw.disconnect();
  }
  console.log(seen.join('\n'));
  // the token promises east's write: 200 v1, or 503 (session_stale) while west cannot tell — never 404
  expect(seen.filter((s) => / 404 /.test(s))).toEqual([]);
}, 60_000);
