/**
 * Server-side operations on real redis-server processes (issue 13 item 3): incr on counter
 * keyspaces (one script call: concurrent increments all count), add/remove on set keyspaces,
 * JSON merge-patch on json-merge keyspaces, each refused on other resolvers; a retried incr
 * is applied once; two regions incrementing during a split converge to the sum.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startRegion, eventually, type RegionFixture } from '../helpers/cluster.js';

type Region = RegionFixture & { stop(): Promise<void> };
const KEYSPACES = [
  { name: 'orders', partitions: 8, onSplit: 'fence' },
  { name: 'hits', partitions: 8, onSplit: 'diverge', writes: 'multi-master', resolver: 'counter' },
  { name: 'tags', partitions: 8, onSplit: 'diverge', writes: 'multi-master', resolver: 'set' },
  { name: 'profiles', partitions: 8, onSplit: 'diverge', writes: 'multi-master', resolver: 'json-merge' },
];
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const total = (doc: { p?: Record<string, number>; n?: Record<string, number> }) =>
  Object.values(doc.p ?? {}).reduce((s, x) => s + x, 0) - Object.values(doc.n ?? {}).reduce((s, x) => s + x, 0);

describe('server-side operations on one region', () => {
  let r: Region;
  let base: string;
  beforeAll(async () => {
    r = await startRegion('east', ['east'], { keyspaces: KEYSPACES });
    base = `${r.gateway.url}/v1/kv`;
  });
  afterAll(async () => { await r?.stop(); });

  it('incr creates the PN-counter and adds to this region\'s entries', async () => {
    expect((await post(`${base}/hits/h1/incr`, { by: 2 })).status).toBe(201);
    expect((await post(`${base}/hits/h1/incr`, { by: 5 })).status).toBe(200);
    const last = await post(`${base}/hits/h1/incr`, { by: -1 });
    expect(last.status).toBe(200);
    expect(last.headers.get('etag')).toBe('"east:3"');
    const get = await fetch(`${base}/hits/h1`);
    expect(await get.text()).toBe('{"n":{"east":1},"p":{"east":7}}');
  });

  it('50 concurrent increments all count (no read-modify-write)', async () => {
    const res = await Promise.all(Array.from({ length: 50 }, () => post(`${base}/hits/h2/incr`, { by: 3 })));
    expect(res.every((x) => x.status < 300)).toBe(true);
    expect(total(await (await fetch(`${base}/hits/h2`)).json())).toBe(150);
  });

  it('a retried incr after a client timeout is applied once', async () => {
    const headers = { 'idempotency-key': 'incr-1' };
    r.redis.freeze();
    await expect(fetch(`${base}/hits/h3/incr`, { method: 'POST', body: '{"by":10}', headers, signal: AbortSignal.timeout(300) })).rejects.toThrow();
    r.redis.thaw();
    await expect.poll(async () => (await fetch(`${base}/hits/h3`)).status, { timeout: 5000 }).toBe(200);
    const retry = await fetch(`${base}/hits/h3/incr`, { method: 'POST', body: '{"by":10}', headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(total(await (await fetch(`${base}/hits/h3`)).json())).toBe(10);
  });

  it('refused with 409 naming the resolver on other keyspaces, 400 on a bad body, 409 on a value that is not a counter', async () => {
    const wrong = await post(`${base}/orders/o1/incr`, { by: 1 });
    expect(wrong.status).toBe(409);
    const err = (await wrong.json()).error;
    expect(err.code).toBe('operation_not_supported');
    expect(err.message).toContain('resolver counter');
    expect(err.message).toContain('orders has resolver lww');
    expect((await post(`${base}/tags/t0/incr`, { by: 1 })).status).toBe(409);
    expect((await post(`${base}/hits/h4/incr`, { by: 1.5 })).status).toBe(400);
    expect((await post(`${base}/hits/h4/incr`, {})).status).toBe(400);
    await fetch(`${base}/hits/h5`, { method: 'PUT', body: 'not json' });
    const nac = await post(`${base}/hits/h5/incr`, { by: 1 });
    expect(nac.status).toBe(409);
    expect((await nac.json()).error.code).toBe('not_a_counter');
    expect(await (await fetch(`${base}/hits/h5`)).text()).toBe('not json');
    expect((await post(`${base}/orders/o1/add`, { members: [1] })).status).toBe(409);
    expect((await fetch(`${base}/orders/o1`, { method: 'PATCH', body: '{}', headers: { 'content-type': 'application/merge-patch+json' } })).status).toBe(409);
  });

  it('add / remove on a set keyspace: canonical sorted array, duplicates collapse; concurrent adds all land', async () => {
    expect((await post(`${base}/tags/t1/add`, { members: ['b', 'a', 'b'] })).status).toBe(201);
    await Promise.all(['c', 'd', 'e', 'f'].map((m) => post(`${base}/tags/t1/add`, { members: [m] })));
    expect((await post(`${base}/tags/t1/remove`, { members: ['a', 'zz'] })).status).toBe(200);
    expect(await (await fetch(`${base}/tags/t1`)).text()).toBe('["b","c","d","e","f"]');
    expect((await post(`${base}/tags/t1/add`, { members: [] })).status).toBe(400);
  });

  it('PATCH applies a JSON merge patch (RFC 7386) on a json-merge keyspace', async () => {
    const patch = (body: unknown, type = 'application/merge-patch+json') =>
      fetch(`${base}/profiles/p1`, { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': type } });
    expect((await patch({ name: 'Ann', address: { city: 'Oslo', zip: '0150' } })).status).toBe(201);
    expect((await patch({ address: { zip: null, street: 'Main' }, tags: ['x'] })).status).toBe(200);
    expect(JSON.parse(await (await fetch(`${base}/profiles/p1`)).text())).toEqual({ name: 'Ann', address: { city: 'Oslo', street: 'Main' }, tags: ['x'] });
    expect((await patch({ a: 1 }, 'application/json')).status).toBe(400);
  });
});

describe('incr from two regions during a split', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  afterAll(async () => { await cluster?.stop(); });

  it('converges to the exact sum after the heal', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true, extra: { keyspaces: KEYSPACES } });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const keys = ['s1', 's2', 's3'];
    for (const k of keys) expect((await post(`${east.url}/v1/kv/hits/${k}/incr`, { by: 1 })).status).toBe(201);
    expect(await eventually(async () => (await Promise.all(keys.map((k) => west.store.get('hits', k)))).every(Boolean), 10_000)).toBe(true);
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'down'), 10_000)).toBe(true);
    for (let i = 0; i < 10; i++) {
      for (const k of keys) {
        expect((await post(`${east.url}/v1/kv/hits/${k}/incr`, { by: 2 })).status).toBe(200);
        expect((await post(`${west.url}/v1/kv/hits/${k}/incr`, { by: 3 })).status).toBe(200);
      }
    }
    expect((await post(`${west.url}/v1/kv/hits/s1/incr`, { by: -4 })).status).toBe(200);
    c.healAll();
    const expected: Record<string, number> = { s1: 1 + 20 + 30 - 4, s2: 51, s3: 51 };
    const agreed = async () => {
      for (const k of keys) {
        const recs = await Promise.all([east, west].map((g) => g.store.get('hits', k)));
        if (recs.some((x) => !x || x.version !== recs[0]!.version)) return false;
        if (total(JSON.parse(Buffer.from(recs[0]!.value).toString())) !== expected[k]) return false;
      }
      return true;
    };
    expect(await eventually(agreed, 30_000, 200)).toBe(true);
  });
});
