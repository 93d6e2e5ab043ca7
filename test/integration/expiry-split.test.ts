/**
 * Expiry across regions and a WAN split (issue 13 item 4), through the real gateways (witness,
 * WAN relays, real redis-server). `carts` is multi-master, onSplit diverge, resolver lww.
 *  - Expiry agreed by all regions across a split: during the cut both regions read 404 from
 *    the absolute expiry on; only the partition's resolving region sweeps; after the heal both
 *    hold the same tombstone with the same version.
 *  - A TTL changed concurrently at the two regions during a split converges to the write with
 *    the later stamp (lww), its expiry with it, "persist" included.
 *  - lww safety: east's key expires and east sweeps it only after west wrote the key (after the
 *    expiry) while cut off; after the heal west's write survives everywhere, because the
 *    tombstone carries the expiry's stamp, not the sweep's time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';
import { keysActiveAt, linksAre, settled, splitEastWest } from '../helpers/split.js';

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

function start(sweepIntervalMs: number) {
  return startCluster(['east', 'west'], {
    witness: true, wan: true,
    extra: {
      keyspaces: [{ name: 'orders', partitions: 8, onSplit: 'fence' }, { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' }],
      expiry: { sweepIntervalMs },
    },
  });
}

describe('expiry across regions', () => {
  it('expiry agreed by all regions across a split: 404 at the absolute time on both sides during the cut, the same tombstone and version after the heal', async () => {
    cluster = await start(100);
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    expect(await eventually(() => linksAre(c, 'up'), 10_000)).toBe(true);
    // one key resolved at each region: each is swept by its own partition's resolving region
    const keys = [...keysActiveAt(c, 'east', 2, X), ...keysActiveAt(c, 'west', 2, X)];
    const expiry = new Map<string, number>();
    for (const key of keys) {
      const r = await req(`${east.url}/v1/kv/carts/${key}?ttl=2`, 'PUT', `v-${key}`);
      expect(r.status).toBe(201);
      expiry.set(key, Number(r.headers.get('x-geogate-expires-at')));
    }
    expect(await eventually(() => settled(c, keys), 10_000)).toBe(true);
    await splitEastWest(c);
    for (const key of keys) for (const g of [east, west]) {
      if (Date.now() < expiry.get(key)! - 200) expect((await req(`${g.url}/v1/kv/carts/${key}`, 'GET')).status).toBe(200);
    }
    const last = Math.max(...expiry.values());
    while (Date.now() < last) await sleep(10);
    // at the absolute time, at once, at both regions (nothing replicated meanwhile)
    for (const key of keys) for (const g of [east, west]) {
      expect((await req(`${g.url}/v1/kv/carts/${key}`, 'GET')).status, `${g.config.region}/${key}`).toBe(404);
    }
    // during the cut each side tombstones only the partitions it resolves
    expect(await eventually(async () => {
      for (const [g, mine] of [[east, keys.slice(0, 2)], [west, keys.slice(2)]] as const) {
        for (const key of mine) if (!(await g.store.get('carts', key))?.tombstone) return false;
      }
      return true;
    }, 5000)).toBe(true);
    for (const key of keys.slice(2)) expect((await east.store.get('carts', key))!.tombstone).toBe(false);
    c.healAll();
    expect(await eventually(() => settled(c, keys), 30_000, 100)).toBe(true);
    for (const key of keys) {
      const [e, w] = await Promise.all([east.store.get('carts', key), west.store.get('carts', key)]);
      expect(e!.tombstone && w!.tombstone, key).toBe(true);
      expect(w!.version).toBe(e!.version);
      expect(w!.hlc).toEqual([expiry.get(key)!, 0]);
    }
  });

  it('a TTL changed concurrently at both regions during a split converges to the write with the later stamp (lww), persist included', async () => {
    cluster = await start(100);
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    expect(await eventually(() => linksAre(c, 'up'), 10_000)).toBe(true);
    const [shortWins, persistWins] = keysActiveAt(c, 'east', 2, X) as [string, string];
    for (const key of [shortWins, persistWins]) expect((await req(`${east.url}/v1/kv/carts/${key}`, 'PUT', `v-${key}`)).status).toBe(201);
    expect(await eventually(() => settled(c, [shortWins, persistWins]), 10_000)).toBe(true);
    await splitEastWest(c);
    // shortWins: east sets an hour, then west (later) 2 s; persistWins: west 2 s, then east (later) removes the expiry
    expect((await req(`${east.url}/v1/kv/carts/${shortWins}/expire`, 'POST', '{"ttlSeconds":3600}', json)).status).toBe(200);
    expect((await req(`${west.url}/v1/kv/carts/${persistWins}/expire`, 'POST', '{"ttlSeconds":2}', json)).status).toBe(200);
    await sleep(5);
    const later = await req(`${west.url}/v1/kv/carts/${shortWins}/expire`, 'POST', '{"ttlSeconds":2}', json);
    expect(later.status).toBe(200);
    const shortExpiry = Number(later.headers.get('x-geogate-expires-at'));
    expect((await req(`${east.url}/v1/kv/carts/${persistWins}/expire`, 'POST', '{"ttlSeconds":0}', json)).status).toBe(200);
    c.healAll();
    expect(await eventually(() => settled(c, [shortWins, persistWins]), 30_000, 100)).toBe(true);
    // the journal keeps both sides' expiries with their values
    const journal = (await (await fetch(`${east.url}/v1/conflicts?keyspace=carts&limit=100`)).json()) as { conflicts: Record<string, string>[] };
    const entry = journal.conflicts.find((e) => e.key === shortWins)!;
    const sides = [entry.currentExpiresAtMs, entry.incomingExpiresAtMs].map(Number).sort((x, y) => x - y);
    expect(sides[0]).toBe(shortExpiry); // west's 2 s
    expect(sides[1]).toBeGreaterThan(shortExpiry + 3_500_000); // east's hour, the loser, kept
    for (const g of [east, west]) {
      expect((await g.store.get('carts', shortWins))!.expiresAtMs, g.config.region).toBe(shortExpiry);
      expect((await g.store.get('carts', persistWins))!.expiresAtMs, g.config.region).toBeUndefined();
    }
    while (Date.now() < shortExpiry) await sleep(10);
    for (const g of [east, west]) {
      expect((await req(`${g.url}/v1/kv/carts/${shortWins}`, 'GET')).status).toBe(404);
      expect(await req(`${g.url}/v1/kv/carts/${persistWins}`, 'GET')).toMatchObject({ status: 200, text: `v-${persistWins}` });
    }
    // the resolution carried west's expiry; east (the resolving region) sweeps it; the same tombstone everywhere
    expect(await eventually(async () => (await east.store.get('carts', shortWins))!.tombstone && settled(c, [shortWins]), 10_000, 100)).toBe(true);
    expect((await west.store.get('carts', shortWins))!.tombstone).toBe(true);
  });

  it('lww safety: a write made after the expiry at a region cut off from the sweep survives the (later) expiry tombstone', async () => {
    cluster = await start(3_600_000); // east sweeps when the test says
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    expect(await eventually(() => linksAre(c, 'up'), 10_000)).toBe(true);
    const keys = keysActiveAt(c, 'east', 4, X);
    let expiresAt = 0;
    for (const key of keys) {
      const r = await req(`${east.url}/v1/kv/carts/${key}?ttl=1`, 'PUT', `east-${key}`);
      expiresAt = Math.max(expiresAt, Number(r.headers.get('x-geogate-expires-at')));
    }
    expect(await eventually(() => settled(c, keys), 10_000)).toBe(true);
    await splitEastWest(c);
    while (Date.now() < expiresAt + 20) await sleep(10);
    // west writes each key after its expiry, not having seen any tombstone
    for (const key of keys) expect((await req(`${west.url}/v1/kv/carts/${key}`, 'PUT', `west-${key}`)).status).toBe(201);
    await sleep(20);
    // east sweeps only now: later in real time than west's writes
    // (the sweep runs only while east holds the partitions' leases: renewed through the witness during the cut)
    const carts = east.config.keyspaces.find((k) => k.name === 'carts')!;
    const parts = keys.map((k) => east.context.maps.get('carts')!.place(k).partition);
    expect(await eventually(() => parts.every((p) => east.context.authority.mayResolve(carts, p)), 10_000)).toBe(true);
    expect((await east.expirySweeper.sweepOnce()).tombstoned).toBe(keys.length);
    c.healAll();
    expect(await eventually(() => settled(c, keys), 30_000, 100)).toBe(true);
    const wrong: string[] = [];
    for (const g of [east, west]) {
      for (const key of keys) {
        const rec = (await g.store.get('carts', key))!;
        if (rec.tombstone || Buffer.from(rec.value).toString() !== `west-${key}`) wrong.push(`${g.config.region}/${key}: ${rec.tombstone ? 'tombstone' : Buffer.from(rec.value).toString()}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
