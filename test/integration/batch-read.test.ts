/**
 * Batch reads and listing (issue 13 item 5) on a real redis-server: `_mget` answers in the
 * order asked with values as text or base64 and refuses what is over its bounds; listing
 * pages through a keyspace returning every key live for the whole listing exactly once,
 * while other keys are written and deleted meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegion } from '../helpers/cluster.js';
import { MGET_BYTES_MAX, MGET_KEYS_MAX } from '../../gateway/http/batch-routes.js';

let region: Awaited<ReturnType<typeof startRegion>>;
let url = '';
beforeAll(async () => {
  region = await startRegion('east', ['east'], { merkle: { buckets: 64 }, limits: { valueBytesMax: 2 * 1024 * 1024 } });
  url = region.gateway.url;
});
afterAll(async () => { await region?.stop(); });

const put = async (ks: string, key: string, body: string | Buffer, type = 'text/plain') => {
  const res = await fetch(`${url}/v1/kv/${ks}/${encodeURIComponent(key)}`, { method: 'PUT', body, headers: { 'content-type': type } });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.headers.get('etag')!.replace(/"/g, '');
};
const del = async (ks: string, key: string) => { await (await fetch(`${url}/v1/kv/${ks}/${encodeURIComponent(key)}`, { method: 'DELETE' })).text(); };
const mget = (ks: string, body: unknown) => fetch(`${url}/v1/kv/${ks}/_mget`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

async function listAll(ks: string, query = ''): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor = '';
  let pages = 0;
  for (;;) {
    const res = await fetch(`${url}/v1/kv/${ks}?limit=50${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { keys: string[]; next: string | null };
    keys.push(...page.keys);
    pages++;
    if (page.next === null) return { keys, pages };
    cursor = page.next;
    expect(pages).toBeLessThan(1000);
  }
}

describe('POST /v1/kv/:keyspace/_mget', () => {
  it('answers in the order asked: text as value, binary as valueBase64, absent and deleted as found: false', async () => {
    const v1 = await put('carts', 'm1', 'hello', 'text/plain; charset=utf-8');
    const v2 = await put('carts', 'm2', Buffer.from([0, 1, 2, 255]), 'application/octet-stream');
    await put('carts', 'm3', 'gone');
    await del('carts', 'm3');
    const res = await mget('carts', { keys: ['m2', 'missing', 'm1', 'm3'] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Record<string, unknown>[] };
    expect(body.results).toEqual([
      { key: 'm2', found: true, version: v2, contentType: 'application/octet-stream', partition: expect.any(String), valueBase64: Buffer.from([0, 1, 2, 255]).toString('base64') },
      { key: 'missing', found: false },
      { key: 'm1', found: true, version: v1, contentType: 'text/plain; charset=utf-8', partition: expect.any(String), value: 'hello' },
      { key: 'm3', found: false },
    ]);
  });

  it('refuses over its bounds with a clear error: too many keys, values too large together, bad bodies', async () => {
    const many = await mget('carts', { keys: Array.from({ length: MGET_KEYS_MAX + 1 }, (_, i) => `k${i}`) });
    expect(many.status).toBe(400);
    expect(((await many.json()) as { error: { code: string } }).error.code).toBe('too_many_keys');
    const big = Buffer.alloc(2 * 1024 * 1024 - 16, 0x61);
    const n = Math.ceil(MGET_BYTES_MAX / big.length) + 1;
    for (let i = 0; i < n; i++) await put('carts', `big${i}`, big, 'application/octet-stream');
    const tooLarge = await mget('carts', { keys: Array.from({ length: n }, (_, i) => `big${i}`) });
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { error: { message: string } }).error.message).toMatch(/ask for fewer keys/);
    for (const bad of [{}, { keys: [] }, { keys: [1] }, { keys: [''] }]) expect((await mget('carts', bad)).status).toBe(400);
    expect((await fetch(`${url}/v1/kv/carts/_mget`, { method: 'POST', body: 'not json' })).status).toBe(400);
    expect((await mget('nope', { keys: ['a'] })).status).toBe(404);
  });
});

describe('GET /v1/kv/:keyspace (listing)', () => {
  it('pages through every live key exactly once; deleted keys are not listed; prefix filters', async () => {
    const stable = Array.from({ length: 400 }, (_, i) => `s/${i}`);
    for (const k of stable) await put('orders', k, 'v');
    for (let i = 0; i < 40; i++) { await put('orders', `d/${i}`, 'v'); await del('orders', `d/${i}`); }
    const { keys, pages } = await listAll('orders');
    expect(pages).toBeGreaterThan(4);
    expect(keys.length).toBe(new Set(keys).size);
    expect(new Set(keys)).toEqual(new Set(stable));
    const some = await listAll('orders', '&prefix=s/1');
    expect(new Set(some.keys)).toEqual(new Set(stable.filter((k) => k.startsWith('s/1'))));
  });

  it('under concurrent writes and deletes, a key live for the whole listing comes exactly once', async () => {
    const stable = Array.from({ length: 300 }, (_, i) => `live/${i}`);
    for (const k of stable) await put('carts', k, 'v');
    let stop = false;
    let churned = 0;
    const churn = (async () => {
      for (let i = 0; !stop; i++) {
        await put('carts', `churn/${i % 50}`, `v${i}`);
        if (i % 3 === 0) await del('carts', `churn/${(i + 25) % 50}`);
        churned++;
      }
    })();
    const { keys } = await listAll('carts', '&prefix=live/');
    stop = true;
    await churn;
    expect(churned).toBeGreaterThan(10);
    expect(keys.length).toBe(stable.length);
    expect(new Set(keys)).toEqual(new Set(stable));
  });

  it('a listing call reads buckets only while their members fit its bound (always one), and counts what it read', async () => {
    const store = region.gateway.store;
    for (let i = 0; i < 60; i++) await put('carts', `b/${i}`, 'v');
    const map = region.gateway.context.maps.get('carts')!;
    const [p] = [...new Set(Array.from({ length: 60 }, (_, i) => map.place(`b/${i}`).partition))];
    const buckets = await store.bucketsInUse('carts', p!);
    expect(buckets.length).toBeGreaterThan(2);
    const all = await store.liveKeysOfBuckets('carts', p!, buckets);
    expect(all.lists).toHaveLength(buckets.length);
    const first = all.lists[0]!.length;
    const bounded = await store.liveKeysOfBuckets('carts', p!, buckets, 1); // below one bucket: that bucket alone
    expect(bounded.lists).toHaveLength(1);
    expect(bounded.lists[0]!.length).toBe(first);
    expect(bounded.members).toBeGreaterThanOrEqual(first);
  });

  it('bad limits, prefixes and cursors are refused naming what is wrong; an unknown keyspace is 404', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=x', 'cursor=abc', 'cursor=99.0', `prefix=${'p'.repeat(1025)}`]) {
      const res = await fetch(`${url}/v1/kv/orders?${q}`);
      expect(res.status, q).toBe(400);
    }
    expect((await fetch(`${url}/v1/kv/nope`)).status).toBe(404);
  });
});
