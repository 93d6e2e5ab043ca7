/**
 * Idempotency-Key on a real redis-server (issue 13 item 2, the local part): a write whose
 * answer was lost (the client timed out while Redis was frozen, then Redis ran it) is applied
 * once when retried; the key used for another request is refused; outcomes expire and their
 * number is capped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRegion, type RegionFixture } from '../helpers/cluster.js';

type Region = RegionFixture & { stop(): Promise<void> };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Idempotency-Key on a real redis-server', () => {
  let r: Region;
  let short: Region;
  let base: string;
  beforeAll(async () => {
    r = await startRegion('east', ['east']);
    short = await startRegion('east', ['east'], { idempotency: { ttlMs: 600, entriesMax: 3 } });
    base = `${r.gateway.url}/v1/kv`;
  });
  afterAll(async () => { await r?.stop(); await short?.stop(); });

  it('a PUT retried after a client timeout is applied once: same version, replayed', async () => {
    const headers = { 'idempotency-key': 'k-timeout-1', 'content-type': 'text/plain' };
    r.redis.freeze();
    const first = fetch(`${base}/carts/c-1`, { method: 'PUT', body: 'one', headers, signal: AbortSignal.timeout(300) });
    await expect(first).rejects.toThrow();
    r.redis.thaw(); // the gateway's command was queued: Redis runs it now
    await expect.poll(async () => (await fetch(`${base}/carts/c-1`)).status, { timeout: 5000 }).toBe(200);
    const retry = await fetch(`${base}/carts/c-1`, { method: 'PUT', body: 'one', headers });
    expect(retry.status).toBe(201); // the first outcome: created
    expect(retry.headers.get('etag')).toBe('"east:1"');
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(await retry.json()).toEqual({ version: 'east:1', created: true });
    const get = await fetch(`${base}/carts/c-1`);
    expect(get.headers.get('etag')).toBe('"east:1"');
  });

  it('a retry still answers the first outcome after a later write moved the key on', async () => {
    const put = (body: string, key?: string) => fetch(`${base}/carts/c-2`, { method: 'PUT', body, headers: key ? { 'idempotency-key': key } : {} });
    expect((await put('a', 'k-2a')).headers.get('etag')).toBe('"east:1"');
    expect((await put('b')).headers.get('etag')).toBe('"east:2"');
    const retry = await put('a', 'k-2a');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('etag')).toBe('"east:1"');
    expect(await (await fetch(`${base}/carts/c-2`)).text()).toBe('b');
  });

  it('a retried DELETE answers 204 again (not 404) and writes no second tombstone', async () => {
    await fetch(`${base}/carts/c-3`, { method: 'PUT', body: 'x' });
    const del = () => fetch(`${base}/carts/c-3`, { method: 'DELETE', headers: { 'idempotency-key': 'k-del-3' } });
    const d1 = await del();
    expect(d1.status).toBe(204);
    const d2 = await del();
    expect(d2.status).toBe(204);
    expect(d2.headers.get('etag')).toBe(d1.headers.get('etag'));
    expect(d2.headers.get('x-geogate-idempotent-replay')).toBe('true');
  });

  it('the key reused for another body, key or method answers 422 and writes nothing', async () => {
    const headers = { 'idempotency-key': 'k-reuse' };
    expect((await fetch(`${base}/carts/c-4`, { method: 'PUT', body: 'first', headers })).status).toBe(201);
    const other = await fetch(`${base}/carts/c-4`, { method: 'PUT', body: 'second', headers });
    expect(other.status).toBe(422);
    const err = (await other.json()).error;
    expect(err.code).toBe('idempotency_key_reused');
    expect(err.message).toMatch(/Idempotency-Key/);
    expect((await fetch(`${base}/carts/c-5`, { method: 'PUT', body: 'first', headers })).status).toBe(422);
    expect((await fetch(`${base}/carts/c-4`, { method: 'DELETE', headers })).status).toBe(422);
    const get = await fetch(`${base}/carts/c-4`);
    expect(get.headers.get('etag')).toBe('"east:1"');
    expect(await get.text()).toBe('first');
    expect((await fetch(`${base}/carts/c-5`)).status).toBe(404);
  });

  it('a malformed key is 400', async () => {
    const res = await fetch(`${base}/carts/c-6`, { method: 'PUT', body: 'x', headers: { 'idempotency-key': 'x'.repeat(129) } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('bad_idempotency_key');
  });

  it('outcomes expire after idempotency.ttlMs; over idempotency.entriesMax a new key is 503, nothing written', async () => {
    const sb = `${short.gateway.url}/v1/kv`;
    const put = (key: string, idem: string) => fetch(`${sb}/carts/${key}`, { method: 'PUT', body: 'v', headers: { 'idempotency-key': idem } });
    for (let i = 0; i < 3; i++) expect((await put(`e-${i}`, `i-${i}`)).status).toBe(201);
    const full = await put('e-3', 'i-3');
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect((await full.json()).error.code).toBe('idempotency_full');
    expect((await fetch(`${sb}/carts/e-3`)).status).toBe(404);
    // a retry of a remembered one is still answered at the cap
    const retry = await put('e-0', 'i-0');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    await sleep(700);
    // expired: the same key and body is a new write now
    const again = await put('e-0', 'i-0');
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).toBe('"east:2"');
    expect(again.headers.get('x-geogate-idempotent-replay')).toBeNull();
    expect((await put('e-3', 'i-3')).status).toBe(201);
    const redis = new Redis(short.redis.url);
    try {
      expect(await redis.zcard(`${short.config.redis.keyPrefix}idemidx`)).toBe(2); // the expired three were dropped
    } finally {
      redis.disconnect();
    }
  });
});
