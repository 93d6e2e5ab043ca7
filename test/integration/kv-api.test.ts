import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startRegion, type RegionFixture } from '../helpers/cluster.js';
import { unpackChange } from '../../replicator/packed.js';

type Region = RegionFixture & { stop(): Promise<void> };

describe('KV API on a real redis-server', () => {
  let r: Region;
  let base: string;
  beforeAll(async () => {
    r = await startRegion('east', ['east'], { limits: { valueBytesMax: 4096, keyBytesMax: 64 } });
    base = `${r.gateway.url}/v1/kv`;
  });
  afterAll(async () => { await r?.stop(); });

  it('PUT creates (201) then updates (200), ETag is the version, GET returns it', async () => {
    const put1 = await fetch(`${base}/orders/o-1`, { method: 'PUT', body: 'one', headers: { 'content-type': 'text/plain' } });
    expect(put1.status).toBe(201);
    expect(put1.headers.get('etag')).toBe('"east:1"');
    const put2 = await fetch(`${base}/orders/o-1`, { method: 'PUT', body: 'two', headers: { 'content-type': 'text/plain' } });
    expect(put2.status).toBe(200);
    expect(put2.headers.get('etag')).toBe('"east:2"');
    const get = await fetch(`${base}/orders/o-1`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('text/plain');
    expect(get.headers.get('etag')).toBe('"east:2"');
    expect(await get.text()).toBe('two');
  });

  it('keeps binary values byte for byte, with their content type', async () => {
    const value = randomBytes(3000);
    value[0] = 0; value[1] = 0xff;
    const put = await fetch(`${base}/orders/bin`, { method: 'PUT', body: value, headers: { 'content-type': 'application/x-thing' } });
    expect(put.status).toBe(201);
    const get = await fetch(`${base}/orders/bin`);
    expect(Buffer.from(await get.arrayBuffer()).equals(value)).toBe(true);
    expect(get.headers.get('content-type')).toBe('application/x-thing');
  });

  it('keys may contain slashes and non-ASCII text', async () => {
    const key = encodeURIComponent('users/ß/42').replace(/%2F/g, '/');
    expect((await fetch(`${base}/orders/${key}`, { method: 'PUT', body: Buffer.from('x') })).status).toBe(201);
    const get = await fetch(`${base}/orders/${key}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('If-Match: match → 200, mismatch → 412, * on absent → 412', async () => {
    const put = await fetch(`${base}/orders/cas`, { method: 'PUT', body: 'a' });
    const etag = put.headers.get('etag')!;
    expect((await fetch(`${base}/orders/cas`, { method: 'PUT', body: 'b', headers: { 'if-match': '"east:99"' } })).status).toBe(412);
    const ok = await fetch(`${base}/orders/cas`, { method: 'PUT', body: 'b', headers: { 'if-match': etag } });
    expect(ok.status).toBe(200);
    expect((await fetch(`${base}/orders/cas`, { method: 'PUT', body: 'c', headers: { 'if-match': etag } })).status).toBe(412);
    expect((await fetch(`${base}/orders/absent-cas`, { method: 'PUT', body: 'c', headers: { 'if-match': '*' } })).status).toBe(412);
    const bad = await fetch(`${base}/orders/cas`, { method: 'PUT', body: 'c', headers: { 'if-match': 'no-quotes' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('bad_request');
  });

  it('If-None-Match: * creates only when absent', async () => {
    expect((await fetch(`${base}/orders/inm`, { method: 'PUT', body: 'a', headers: { 'if-none-match': '*' } })).status).toBe(201);
    const again = await fetch(`${base}/orders/inm`, { method: 'PUT', body: 'b', headers: { 'if-none-match': '*' } });
    expect(again.status).toBe(412);
    expect((await again.json()).error.code).toBe('precondition_failed');
  });

  it('20 concurrent If-Match writes on one ETag: exactly one wins', async () => {
    const put = await fetch(`${base}/orders/race`, { method: 'PUT', body: '0' });
    const etag = put.headers.get('etag')!;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      fetch(`${base}/orders/race`, { method: 'PUT', body: String(i + 1), headers: { 'if-match': etag } }).then((res) => res.status)));
    expect(results.filter((s) => s === 200)).toHaveLength(1);
    expect(results.filter((s) => s === 412)).toHaveLength(19);
  });

  it('DELETE → 204 tombstone, then GET 404, DELETE again 404, PUT recreates with a higher version', async () => {
    await fetch(`${base}/orders/del`, { method: 'PUT', body: 'x' });
    const del = await fetch(`${base}/orders/del`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(del.headers.get('etag')).toBe('"east:2"');
    expect((await fetch(`${base}/orders/del`)).status).toBe(404);
    expect((await fetch(`${base}/orders/del`, { method: 'DELETE' })).status).toBe(404);
    const again = await fetch(`${base}/orders/del`, { method: 'PUT', body: 'y' });
    expect(again.status).toBe(201);
    expect(again.headers.get('etag')).toBe('"east:3"');
    const rec = await r.gateway.store.get('orders', 'del');
    expect(rec?.tombstone).toBe(false);
  });

  it('bounds: value too large → 413, key too long → 400, unknown keyspace → 404, all with JSON bodies', async () => {
    const big = await fetch(`${base}/orders/big`, { method: 'PUT', body: Buffer.alloc(4097) });
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe('payload_too_large');
    const exact = await fetch(`${base}/orders/exact`, { method: 'PUT', body: Buffer.alloc(4096) });
    expect(exact.status).toBe(201);
    // chunked (no Content-Length): refused once the stream passes the bound, exact size accepted
    const chunked = (size: number) => fetch(`${base}/orders/chunked${size}`, {
      method: 'PUT', duplex: 'half',
      body: new ReadableStream({ start(ctl) { for (let i = 0; i < size; i += 1000) ctl.enqueue(new Uint8Array(Math.min(1000, size - i))); ctl.close(); } }),
    } as RequestInit);
    const bigStream = await chunked(10_000);
    expect(bigStream.status).toBe(413);
    expect((await bigStream.json()).error.code).toBe('payload_too_large');
    const okStream = await chunked(4096);
    expect(okStream.status).toBe(201);
    expect((await r.gateway.store.get('orders', 'chunked4096'))?.value.byteLength).toBe(4096);
    const long = await fetch(`${base}/orders/${'k'.repeat(65)}`, { method: 'PUT', body: 'x' });
    expect(long.status).toBe(400);
    expect((await long.json()).error.code).toBe('key_too_long');
    const ctl = await fetch(`${base}/orders/a%00b`, { method: 'PUT', body: 'x' });
    expect(ctl.status).toBe(400);
    const unknown = await fetch(`${base}/nope/k`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('unknown_keyspace');
    expect((await fetch(`${base}/orders/never-written`)).status).toBe(404);
    expect((await fetch(`${r.gateway.url}/v1/nothing`)).status).toBe(404);
  });

  it('every write lands in the replication log with its version and bumps the partition digest', async () => {
    const before = await r.gateway.store.bounds();
    const put = await fetch(`${base}/orders/logged`, { method: 'PUT', body: 'v1' });
    expect(put.status).toBe(201);
    const after = await r.gateway.store.bounds();
    expect(after.lastSeq).toBe(before.lastSeq + 1);
    const [packed] = await r.gateway.store.readLog(before.lastSeq, 10, 1 << 20);
    expect(packed?.seq).toBe(after.lastSeq);
    const entry = unpackChange(packed!.bytes);
    expect(entry.seq).toBe(after.lastSeq);
    expect(entry?.key).toBe('logged');
    expect(entry?.record.vv).toEqual({ east: 1 });
    expect(Buffer.from(entry!.record.value).toString()).toBe('v1');
    const rec = await r.gateway.store.get('orders', 'logged');
    const digests = await r.gateway.store.digests('orders', rec!.partition);
    expect(digests[String(rec!.bucket)]).toMatch(/^[0-9a-f]{16}$/);
  });

  it('/v1/status, /healthz and /metrics', async () => {
    const status = await (await fetch(`${r.gateway.url}/v1/status`)).json();
    expect(status.region).toBe('east');
    expect(status.store.ok).toBe(true);
    expect(status.keyspaces.map((k: { name: string }) => k.name)).toEqual(['orders', 'carts']);
    expect(status.keyspaces[0].partitions).toHaveLength(8);
    expect(status.keyspaces[0].partitions[0].state).toBe('active');
    expect((await fetch(`${r.gateway.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${r.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/geogate_http_requests_total\{[^}]*route="\/v1\/kv\/:keyspace\/:key"[^}]*status="201"/);
    expect(metrics).toContain('geogate_http_request_duration_seconds_bucket');
    // client-chosen paths and methods do not become metric labels
    await fetch(`${r.gateway.url}/v1/random-${Date.now()}`);
    await fetch(`${r.gateway.url}/v1/kv/orders/x`, { method: 'PROPFIND' });
    const after = await (await fetch(`${r.gateway.url}/metrics`)).text();
    expect(after).not.toMatch(/random-\d+|PROPFIND/);
    expect(after).toMatch(/route="other"/);
  });
});

describe('single-master redirects', () => {
  let east: Region;
  beforeAll(async () => {
    // the peer never exists: no bootstrap to wait for (gateway/bootstrap-gate.ts)
    east = await startRegion('east', ['east', 'west'], {
      peers: [{ region: 'west', url: 'http://127.0.0.1:1', publicUrl: 'http://west.example:7102' }], antiEntropy: { bootstrapWriteWaitMs: 0 },
    });
  });
  afterAll(async () => { await east?.stop(); });

  it('a write for a partition homed at another region answers 307 to that region, reads stay local', async () => {
    let redirected = 0;
    let local = 0;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${east.gateway.url}/v1/kv/orders/k${i}`, { method: 'PUT', body: 'x', redirect: 'manual' });
      if (res.status === 307) {
        redirected++;
        expect(res.headers.get('location')).toBe(`http://west.example:7102/v1/kv/orders/k${i}`);
        const read = await fetch(`${east.gateway.url}/v1/kv/orders/k${i}`);
        expect(read.status).toBe(404);
        expect(read.headers.get('x-geogate-stale')).toBe('possible');
      } else {
        expect(res.status).toBe(201);
        local++;
      }
    }
    expect(redirected).toBeGreaterThan(5);
    expect(local).toBeGreaterThan(5);
    // multi-master keyspace takes every write locally
    for (let i = 0; i < 10; i++) expect((await fetch(`${east.gateway.url}/v1/kv/carts/k${i}`, { method: 'PUT', body: 'x' })).status).toBe(201);
  });
});

describe('bound on requests in flight', () => {
  let r: Region;
  beforeAll(async () => { r = await startRegion('east', ['east'], { limits: { requestsInFlightMax: 2 } }); });
  afterAll(async () => { await r?.stop(); });

  it('answers 503 overloaded with Retry-After beyond limits.requestsInFlightMax, and recovers', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      fetch(`${r.gateway.url}/v1/kv/orders/f${i}`, { method: 'PUT', body: Buffer.from('x') }).then(async (res) => ({
        status: res.status, retry: res.headers.get('retry-after'), body: res.status === 503 ? await res.json() : await res.arrayBuffer(),
      }))));
    const overloaded = results.filter((x) => x.status === 503);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(results.filter((x) => x.status === 201).length).toBeGreaterThanOrEqual(2);
    expect(overloaded.every((x) => x.retry === '1' && (x.body as { error: { code: string } }).error.code === 'overloaded')).toBe(true);
    expect((await fetch(`${r.gateway.url}/v1/kv/orders/after`, { method: 'PUT', body: Buffer.from('x') })).status).toBe(201);
  });
});
