/**
 * Expiry (issue 13 item 4) on one region with a real redis-server: PUT ?ttl= and POST
 * …/expire, reads answer 404 from the absolute expiry on (GET, _mget, listing) before any
 * sweep, the sweep's tombstone through the write path (counted), a re-PUT that revived the
 * key before the sweep is not lost, Idempotency-Key on /expire, and expiry across a gateway
 * restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startCluster, startRegion } from '../helpers/cluster.js';
import { StoreError, StoreErrorCode } from '../../gateway/store/index.js';
import { MerkleStore } from '../../gateway/store/merkle-store.js';
import { toChangeRecord } from '../../replicator/anti-entropy/session.js';

type Region = Awaited<ReturnType<typeof startRegion>>;
let region: Region | undefined;
let other: Region | undefined;
let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
afterEach(async () => {
  await region?.stop();
  region = undefined;
  await other?.stop();
  other = undefined;
  await cluster?.stop();
  cluster = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEYSPACES = [
  { name: 'carts', partitions: 4, onSplit: 'diverge', writes: 'multi-master' },
  { name: 'tags', partitions: 4, onSplit: 'diverge', writes: 'multi-master', resolver: 'set' },
];

async function req(url: string, method: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method, body, headers });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

/** The sweep runs only when the test asks (sweepOnce), unless `sweepIntervalMs` is given. */
function start(sweepIntervalMs = 3_600_000) {
  return startRegion('east', ['east'], { keyspaces: KEYSPACES, expiry: { sweepIntervalMs, ttlSecondsMax: 3600 } });
}

async function tombstones(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('geogate_expiry_tombstones_total{') && l.includes('keyspace="carts"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('expiry on one region', () => {
  it('reads answer 404 from the absolute expiry on, before the sweep; the sweep then writes the tombstone through the write path', async () => {
    region = await start();
    const g = region.gateway;
    const kv = `${g.url}/v1/kv/carts`;
    const put = await req(`${kv}/a?ttl=1`, 'PUT', 'soon gone');
    expect(put.status).toBe(201);
    const expiresAt = Number(put.headers.get('x-geogate-expires-at'));
    const hlcWall = Number(put.headers.get('x-geogate-hlc')!.split('.')[0]);
    expect(expiresAt).toBe(hlcWall + 1000); // the write's own stamp + ttl: an absolute wall time
    expect(await req(`${kv}/b`, 'PUT', 'stays')).toMatchObject({ status: 201 });
    const got = await req(`${kv}/a`, 'GET');
    expect(got).toMatchObject({ status: 200, text: 'soon gone' });
    expect(got.headers.get('x-geogate-expires-at')).toBe(String(expiresAt));
    const head = await req(`${kv}/a`, 'HEAD');
    if (Date.now() < expiresAt) expect(head).toMatchObject({ status: 200, text: '' });
    while (Date.now() < expiresAt) await sleep(20);
    expect((await req(`${kv}/a`, 'HEAD')).status).toBe(404);
    // nothing swept yet: the record is still stored, unexpired-looking but for its expiry
    expect((await g.store.get('carts', 'a'))?.tombstone).toBe(false);
    expect((await req(`${kv}/a`, 'GET')).status).toBe(404);
    const mget = JSON.parse((await req(`${kv}/_mget`, 'POST', JSON.stringify({ keys: ['a', 'b'] }), { 'content-type': 'application/json' })).text);
    expect(mget.results.map((r: { found: boolean }) => r.found)).toEqual([false, true]);
    const list = JSON.parse((await req(`${kv}?limit=100`, 'GET')).text);
    expect(list.keys).toEqual(['b']);
    expect((await req(`${kv}/a`, 'DELETE')).status).toBe(404); // absent already
    expect((await req(`${kv}/a/expire`, 'POST', '{"ttlSeconds":60}', { 'content-type': 'application/json' })).status).toBe(404);

    const before = (await g.store.get('carts', 'a'))!;
    expect(await g.expirySweeper.sweepOnce()).toEqual({ tombstoned: 1, examined: 1 });
    const after = (await g.store.get('carts', 'a'))!;
    expect(after.tombstone).toBe(true);
    expect(after.hlc).toEqual([expiresAt, 0]); // the expiry's own stamp, not the sweep's time
    expect(after.vv.east).toBe(before.vv.east! + 1);
    expect(await tombstones(g.url)).toBe(1);
    expect(await g.expirySweeper.sweepOnce()).toEqual({ tombstoned: 0, examined: 0 }); // nothing left in the index
    expect((await g.store.get('carts', 'b'))?.tombstone).toBe(false);
  });

  it('a re-PUT that revived an expired key before the sweep is not lost (the tombstone is conditional on the expired version)', async () => {
    region = await start();
    const g = region.gateway;
    const kv = `${g.url}/v1/kv/carts`;
    const put = await req(`${kv}/r?ttl=1`, 'PUT', 'first');
    const expiresAt = Number(put.headers.get('x-geogate-expires-at'));
    while (Date.now() < expiresAt) await sleep(20);
    const expired = (await g.store.get('carts', 'r'))!;
    // the key reads absent, so If-None-Match: * takes it: a new life
    const revived = await req(`${kv}/r`, 'PUT', 'second', { 'if-none-match': '*' });
    expect(revived.status).toBe(201);
    // a sweep that read the expired version before the re-PUT: its tombstone is refused
    const place = g.context.maps.get('carts')!.place('r');
    await expect(g.store.write({
      keyspace: 'carts', key: 'r', partition: place.partition, bucket: place.bucket, value: new Uint8Array(0), contentType: '',
      tombstone: true, ifMatch: expired.version, epoch: 0, fenced: false, op: 'sweep',
    })).rejects.toSatisfy((e) => e instanceof StoreError && e.code === StoreErrorCode.IfMatchFailed);
    expect(await g.expirySweeper.sweepOnce()).toEqual({ tombstoned: 0, examined: 0 });
    expect(await req(`${kv}/r`, 'GET')).toMatchObject({ status: 200, text: 'second' });
    expect((await req(`${kv}/r`, 'GET')).headers.get('x-geogate-expires-at')).toBeNull(); // a PUT without ttl persists
    expect(await tombstones(g.url)).toBe(0);
  });

  it('POST …/expire sets and removes the expiry, keeps the value, bumps the version; retried with an Idempotency-Key it is applied once', async () => {
    region = await start();
    const kv = `${region.gateway.url}/v1/kv/carts`;
    const json = { 'content-type': 'application/json' };
    const put = await req(`${kv}/e`, 'PUT', 'value', { 'content-type': 'text/plain' });
    const set = await req(`${kv}/e/expire`, 'POST', '{"ttlSeconds":60}', { ...json, 'idempotency-key': 'exp-1' });
    expect(set.status).toBe(200);
    expect(set.headers.get('etag')).not.toBe(put.headers.get('etag'));
    expect(Number(set.headers.get('x-geogate-expires-at'))).toBe(Number(set.headers.get('x-geogate-hlc')!.split('.')[0]) + 60_000);
    const retry = await req(`${kv}/e/expire`, 'POST', '{"ttlSeconds":60}', { ...json, 'idempotency-key': 'exp-1' });
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(retry.headers.get('etag')).toBe(set.headers.get('etag'));
    expect((await req(`${kv}/e/expire`, 'POST', '{"ttlSeconds":30}', { ...json, 'idempotency-key': 'exp-1' })).status).toBe(422);
    const got = await req(`${kv}/e`, 'GET');
    expect(got).toMatchObject({ status: 200, text: 'value' });
    expect(got.headers.get('content-type')).toBe('text/plain');
    expect(got.headers.get('etag')).toBe(set.headers.get('etag'));
    const persist = await req(`${kv}/e/expire`, 'POST', '{}', json);
    expect(persist.status).toBe(200);
    expect(persist.headers.get('x-geogate-expires-at')).toBeNull();
    expect((await req(`${kv}/e`, 'GET')).headers.get('x-geogate-expires-at')).toBeNull();
    expect(await region.gateway.store.expiredKeys('carts', region.gateway.context.maps.get('carts')!.place('e').partition, Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  it('bad and unsupported expiries are clear 400 / 409 errors', async () => {
    region = await start();
    const kv = `${region.gateway.url}/v1/kv`;
    const json = { 'content-type': 'application/json' };
    for (const ttl of ['-1', '1.5', 'abc', '']) {
      const r = await req(`${kv}/carts/x?ttl=${ttl}`, 'PUT', 'v');
      expect(r.status, ttl).toBe(400);
      expect(JSON.parse(r.text).error.code).toBe('bad_ttl');
    }
    const long = await req(`${kv}/carts/x?ttl=3601`, 'PUT', 'v');
    expect(long.status).toBe(400);
    expect(JSON.parse(long.text).error.code).toBe('ttl_too_long');
    await req(`${kv}/carts/x`, 'PUT', 'v');
    expect((await req(`${kv}/carts/x/expire`, 'POST', '{"ttlSeconds":-3}', json)).status).toBe(400);
    expect((await req(`${kv}/carts/x/expire`, 'POST', '{"ttl":3}', json)).status).toBe(400);
    expect((await req(`${kv}/carts/x/expire`, 'POST', 'not json', json)).status).toBe(400);
    const set = await req(`${kv}/tags/t?ttl=5`, 'PUT', '[]');
    expect(set.status).toBe(409);
    expect(JSON.parse(set.text).error.code).toBe('expiry_not_supported');
    expect((await req(`${kv}/tags/t/expire`, 'POST', '{"ttlSeconds":5}', json)).status).toBe(409);
    expect((await req(`${kv}/tags/t?ttl=0`, 'PUT', '[]')).status).toBe(201); // 0: no expiry, allowed everywhere
  });

  it('expiry survives a gateway restart: read by its absolute time, swept by the new process', async () => {
    cluster = await startCluster(['east'], { extra: { keyspaces: KEYSPACES, expiry: { sweepIntervalMs: 100 } } });
    const kv = () => `${cluster!.byName('east').gateway.url}/v1/kv/carts`;
    const put = await req(`${kv()}/s?ttl=2`, 'PUT', 'survives');
    const expiresAt = Number(put.headers.get('x-geogate-expires-at'));
    await cluster.restartGateway('east');
    expect(await eventually(() => cluster!.byName('east').gateway.writesOpen(), 10_000)).toBe(true);
    if (Date.now() < expiresAt - 100) expect((await req(`${kv()}/s`, 'GET')).status).toBe(200);
    while (Date.now() < expiresAt) await sleep(20);
    expect((await req(`${kv()}/s`, 'GET')).status).toBe(404);
    const g = () => cluster!.byName('east').gateway;
    expect(await eventually(async () => (await g().store.get('carts', 's'))?.tombstone === true, 5000)).toBe(true);
    expect((await g().store.get('carts', 's'))!.hlc).toEqual([expiresAt, 0]);
  });

  it('anti-entropy carries the expiry: the record read for a peer holds it, and the peer applying it reads, indexes and sweeps by it', async () => {
    region = await start();
    other = await startRegion('west', ['west'], { keyspaces: KEYSPACES, expiry: { sweepIntervalMs: 3_600_000 } });
    const put = await req(`${region.gateway.url}/v1/kv/carts/ae?ttl=1`, 'PUT', 'repaired');
    const expiresAt = Number(put.headers.get('x-geogate-expires-at'));
    const [wire] = await new MerkleStore(region.gateway.store).readRecords('carts', ['ae']);
    expect(wire![10]).toBe(expiresAt);
    const rec = toChangeRecord('carts', wire!)!;
    expect(rec.record.expiresAtMs).toBe(expiresAt);
    expect(await other.gateway.store.applyVersions([rec])).toEqual(['applied']);
    const got = await req(`${other.gateway.url}/v1/kv/carts/ae`, 'GET');
    if (Date.now() < expiresAt) expect(got.headers.get('x-geogate-expires-at')).toBe(String(expiresAt));
    while (Date.now() < expiresAt) await sleep(20);
    expect((await req(`${other.gateway.url}/v1/kv/carts/ae`, 'GET')).status).toBe(404);
    expect(await other.gateway.expirySweeper.sweepOnce()).toEqual({ tombstoned: 1, examined: 1 });
  });
});
