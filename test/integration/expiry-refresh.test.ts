/**
 * Expiry (issue 13 item 4): a sweep tombstone must not supersede a write that came causally
 * AFTER the version it expired (the write dominates it) and removed or extended its expiry.
 *
 * `carts` is multi-master, onSplit diverge, lww (as in expiry-split.test.ts). east writes a key
 * with ttl=2 (east resolves its partition); it replicates to west. Then a split. Before the
 * expiry, west refreshes the key: a plain PUT (persist) and, for a second key, POST /expire
 * 3600. Both are acknowledged (200) and both dominate the expiring version (west had it).
 * After the expiry east, which never saw the refreshes, sweeps: the tombstone carries the
 * expiry's own stamp, later than the refreshes' stamps. Before the fix lww let the tombstone
 * win after the heal and the acknowledged refreshes were gone at every region (delete-vs-update,
 * winner current); a sweep tombstone now names the version it expired and loses to any version
 * that dominates that one (conflict/resolve.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { expiredVersionOf, vvFromString } from '../../conflict/index.js';
import { startCluster, eventually } from '../helpers/cluster.js';
import { keysActiveAt, settled } from '../helpers/split.js';

/** This file's keys: `x0`, `x1`, ... */
const X = { prefix: 'x' };

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = { 'content-type': 'application/json' };

async function req(url: string, method: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method, body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('expiry: a sweep tombstone against a later refresh', () => {
  it('a refresh (persist / longer ttl) made before the expiry by a region that had the expiring version survives the sweep of that version', async () => {
    cluster = await startCluster(['east', 'west'], {
      witness: true, wan: true,
      extra: {
        keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }, { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' }],
        expiry: { sweepIntervalMs: 3_600_000 }, // east sweeps when the test says
      },
    });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'up'), 10_000)).toBe(true);
    const [persisted, extended] = keysActiveAt(c, 'east', 2, X) as [string, string];
    let expiresAt = 0;
    for (const key of [persisted, extended]) {
      const r = await req(`${east.url}/v1/kv/carts/${key}?ttl=2`, 'PUT', `east-${key}`);
      expect(r.status).toBe(201);
      expiresAt = Math.max(expiresAt, Number(r.headers.get('x-geogate-expires-at')));
    }
    expect(await eventually(() => settled(c, [persisted, extended]), 10_000)).toBe(true);
    const v1 = (await west.store.get('carts', persisted))!.version;

    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'down'), 10_000)).toBe(true);
    expect(Date.now()).toBeLessThan(expiresAt - 100);

    // west refreshes both keys BEFORE the expiry: acknowledged, each dominates the expiring version
    const p = await req(`${west.url}/v1/kv/carts/${persisted}`, 'PUT', `west-${persisted}`);
    expect(p.status).toBe(200);
    const x = await req(`${west.url}/v1/kv/carts/${extended}/expire`, 'POST', '{"ttlSeconds":3600}', json);
    expect(x.status).toBe(200);
    const w2 = (await west.store.get('carts', persisted))!;
    expect(w2.version).not.toBe(v1);

    while (Date.now() < expiresAt + 20) await sleep(10);
    // west reads both keys: it refreshed them
    expect((await req(`${west.url}/v1/kv/carts/${persisted}`, 'GET')).status).toBe(200);
    expect((await req(`${west.url}/v1/kv/carts/${extended}`, 'GET')).status).toBe(200);

    // east (resolving region, cut off) sweeps the versions it holds: expired by their own expiry
    const carts = east.config.keyspaces.find((k) => k.name === 'carts')!;
    const parts = [persisted, extended].map((k) => east.context.maps.get('carts')!.place(k).partition);
    expect(await eventually(() => parts.every((q) => east.context.authority.mayResolve(carts, q)), 10_000)).toBe(true);
    expect((await east.expirySweeper.sweepOnce()).tombstoned).toBe(2);
    // the tombstone names the version it expired (the Lua writes what conflict/expired.ts reads)
    const swept = (await east.store.get('carts', persisted))!;
    expect(swept.tombstone).toBe(true);
    expect(expiredVersionOf(swept)).toEqual(vvFromString(v1));

    c.healAll();
    expect(await eventually(() => settled(c, [persisted, extended]), 30_000, 100)).toBe(true);
    const wrong: string[] = [];
    for (const g of [east, west]) {
      for (const key of [persisted, extended]) {
        const r = await req(`${g.url}/v1/kv/carts/${key}`, 'GET');
        const want = key === persisted ? `west-${key}` : `east-${key}`;
        if (r.status !== 200 || r.text !== want) wrong.push(`${g.config.region}/${key}: ${r.status} ${r.text}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no failure at all, only WAN latency: a refresh sent 100 ms before the expiry survives the sweep of the version it refreshed', async () => {
    cluster = await startCluster(['east', 'west'], {
      witness: true, wan: true,
      extra: {
        keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }, { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' }],
        expiry: { sweepIntervalMs: 50 },
      },
    });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'up'), 10_000)).toBe(true);
    const keys = keysActiveAt(c, 'east', 3, X);
    // 250 ms one way between the regions (heartbeats still flow: no suspicion, no split)
    for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).set('both', { delayMs: 250 });
    let expiresAt = 0;
    for (const key of keys) {
      const r = await req(`${east.url}/v1/kv/carts/${key}?ttl=2`, 'PUT', `east-${key}`);
      expect(r.status).toBe(201);
      expiresAt = Math.max(expiresAt, Number(r.headers.get('x-geogate-expires-at')));
    }
    expect(await eventually(() => settled(c, keys), 10_000)).toBe(true);
    while (Date.now() < expiresAt - 100) await sleep(5);
    // west (which holds the expiring version) makes each key persist, 100 ms before the expiry
    for (const key of keys) expect((await req(`${west.url}/v1/kv/carts/${key}`, 'PUT', `west-${key}`)).status).toBe(200);
    expect(c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'up')).toBe(true);
    for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).set('both', { delayMs: 0 });
    expect(await eventually(() => settled(c, keys), 30_000, 100)).toBe(true);
    const wrong: string[] = [];
    for (const g of [east, west]) {
      for (const key of keys) {
        const r = await req(`${g.url}/v1/kv/carts/${key}`, 'GET');
        if (r.status !== 200 || r.text !== `west-${key}`) wrong.push(`${g.config.region}/${key}: ${r.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
