/**
 * A pending version is not lost when the resolving region's Redis is wiped before it
 * resolved: after a split, east (the keys' active region) holds west's versions pending and
 * west holds east's; east's Redis is wiped and rebuilt from west, whose current versions do
 * not include east's writes — those live only in west's pending hashes. West offers its
 * pending versions to the resolving region again, so east's later writes still win (lww).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, eventually } from '../helpers/cluster.js';
import { keysActiveAt } from '../helpers/split.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const put = (url: string, key: string, body: string) =>
  fetch(`${url}/v1/kv/carts/${key}`, { method: 'PUT', body: Buffer.from(body) }).then(async (r) => { await r.arrayBuffer(); return r.status; });

describe('pending versions survive a wipe of the resolving region', () => {
  it('east wiped while holding conflicts unresolved: its writes, pending at west, still win after the rebuild', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    const keys = keysActiveAt(c, 'east', 6, { prefix: 'p' });
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'up'), 10_000)).toBe(true);
    east.conflictWorker.stop(); // east does not resolve before its wipe
    for (const r of c.relays) r.cut('both', 'blackhole');
    expect(await eventually(() => c.regions.every((r) => r.gateway.replicator!.status()[0]!.state === 'down'), 10_000)).toBe(true);
    for (const key of keys) expect(await put(west.url, key, `west-${key}`)).toBe(201);
    await new Promise((r) => setTimeout(r, 20));
    for (const key of keys) expect(await put(east.url, key, `east-${key}`)).toBe(201); // later: the lww winner
    c.healAll();
    expect(await eventually(async () => (await west.conflicts.pendingCount()) === keys.length && (await east.conflicts.pendingCount()) === keys.length, 15_000)).toBe(true);

    const raw = new Redis(c.byName('east').redis.url);
    await raw.flushall();
    raw.disconnect();
    // east notices the loss and rebuilds from west (west's current versions: its own writes)
    expect(await eventually(async () => (await east.store.get('carts', keys[0]!)) !== null, 20_000, 200)).toBe(true);
    east.conflictWorker.start();

    const values = async () => (await Promise.all(c.regions.flatMap((r) => keys.map(async (key) =>
      `${r.region}/${key}=${Buffer.from((await r.gateway.store.get('carts', key))?.value ?? []).toString()}`))));
    const want = c.regions.flatMap((r) => keys.map((key) => `${r.region}/${key}=east-${key}`));
    const ok = await eventually(async () => JSON.stringify(await values()) === JSON.stringify(want)
      && (await west.conflicts.pendingCount()) === 0 && (await east.conflicts.pendingCount()) === 0, 40_000, 250);
    if (!ok) console.log(await values(), 'pending', await west.conflicts.pendingCount(), await east.conflicts.pendingCount());
    expect(ok).toBe(true);
  });
});
