/**
 * A region's own store loses its data while its links are down. The new log incarnation was
 * only renewed in memory and written at the next link's handshake, so the frontier kept the
 * lost one and a token naming this region's own writes of the lost log was taken as held: the
 * read answered 404 for the session's own write. The loss now clears the frontier and writes
 * the new incarnation at once; the old token is 503 session_stale.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster } from '../helpers/cluster.js';
import { sleep } from '../helpers/two-regions.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
const put = (base: string, key: string, body: string) => fetch(`${base}/v1/kv/carts/${key}`, { method: 'PUT', body });
const get = (base: string, key: string, session?: string) => fetch(`${base}/v1/kv/carts/${key}`, { headers: session ? { 'x-geogate-session': session } : {} });

let c: Cluster;
beforeAll(async () => { c = await startCluster(['east', 'west'], { wan: true }); });
afterAll(async () => { await c?.stop(); });

it('west\'s own write, west\'s Redis flushed with the WAN cut: the token of the lost log is not held', async () => {
  const west = c.byName('west');
  c.relay('east', 'west').cut('both', 'blackhole');
  c.relay('west', 'east').cut('both', 'blackhole');
  try {
    await sleep(500);
    const w = await put(west.gateway.url, 'own-1', 'mine');
    const token = w.headers.get('x-geogate-session')!;
    const raw = new Redis(west.redis.url);
    try {
      await raw.flushall();
      const seen: string[] = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 5000) {
        const r = await get(west.gateway.url, 'own-1', token);
        const body = await r.text();
        seen.push(`${Date.now() - t0}ms ${r.status} ${r.status === 200 ? body : (JSON.parse(body).error?.code)} ${r.headers.get('x-geogate-session')}`);
        await sleep(250);
      }
      console.log(seen.join('\n'));
      expect(seen.filter((s) => / 404 /.test(s))).toEqual([]);
    } finally {
      raw.disconnect();
    }
  } finally {
    c.healAll();
  }
}, 60_000);
