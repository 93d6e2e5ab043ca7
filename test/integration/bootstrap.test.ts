import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, eventually } from '../helpers/cluster.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const put = (url: string, path: string, body: string) => fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body) });
const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);

/** Writes the keys at west, waits until east has them, then stops both gateways and wipes east's Redis. */
async function wipeEastWithData(c: Cluster): Promise<void> {
  for (const k of keys) expect((await put(c.byName('west').gateway.url, `carts/${k}`, `v-${k}`)).status).toBe(201);
  // a key east itself wrote three times before the wipe: west holds it at {east:3}
  for (let i = 0; i < 3; i++) expect((await put(c.byName('east').gateway.url, 'carts/mine', `before-${i}`)).status).toBeLessThan(300);
  expect(await eventually(async () => (await c.byName('east').gateway.store.get('carts', 'k39')) !== null, 10_000)).toBe(true);
  await c.stopGateway('west');
  await c.stopGateway('east');
  const raw = new Redis(c.byName('east').redis.url);
  await raw.flushall();
  raw.disconnect();
}

const start = async (c: Cluster, region: string) => {
  const r = c.byName(region);
  r.gateway = await startGateway(r.config, { log: silentLogger() });
  return r.gateway;
};

describe('a region whose store started empty (real redis-server)', () => {
  it('refuses writes with 503 bootstrapping until it pulled its peer, then has the peer\'s data and takes writes', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    await wipeEastWithData(c);

    const east = await start(c, 'east'); // its peer is down: nothing to bootstrap from yet
    const refused = await put(east.url, 'carts/new', 'x');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await refused.json() as { error: { code: string } }).error.code).toBe('bootstrapping');
    const status = await (await fetch(`${east.url}/v1/status`)).json() as { bootstrap: { state: string; writesOpen: boolean } };
    expect(status.bootstrap).toMatchObject({ state: 'pending', writesOpen: false });
    expect((await fetch(`${east.url}/v1/kv/carts/k1`)).status).toBe(404); // reads stay local

    await start(c, 'west');
    expect(await eventually(() => east.writesOpen(), 15_000)).toBe(true);
    for (const k of keys) expect(Buffer.from((await east.store.get('carts', k))?.value ?? []).toString()).toBe(`v-${k}`);
    expect((await put(east.url, 'carts/new', 'x')).status).toBe(201);
    const after = await (await fetch(`${east.url}/v1/status`)).json() as { bootstrap: { state: string; from: string[] } };
    expect(after.bootstrap).toMatchObject({ state: 'done', from: ['west'] });
  });

  it('opens writes after antiEntropy.bootstrapWriteWaitMs when no peer comes back', async () => {
    cluster = await startCluster(['east', 'west'], { perRegion: (r) => (r === 'east' ? { antiEntropy: { bootstrapWriteWaitMs: 1500 } } : {}) });
    const c = cluster;
    await wipeEastWithData(c);
    const t0 = Date.now(); // before the gate's clock starts
    const east = await start(c, 'east');
    expect((await put(east.url, 'carts/alone', 'x')).status).toBe(503);
    expect(await eventually(async () => (await put(east.url, 'carts/alone', 'x')).status === 201, 10_000, 100)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    // Its counters restarted with the wipe; the floor keeps this write from being dominated
    // by the {east:3} version west still holds (it would be lost without a conflict).
    expect((await put(east.url, 'carts/mine', 'after-wipe')).status).toBe(201);
    // the peer's data merges in when it returns, and the write made while alone survives everywhere
    const west = await start(c, 'west');
    expect(await eventually(async () => (await east.store.get('carts', 'k39')) !== null, 15_000)).toBe(true);
    const value = async (g: typeof east) => Buffer.from((await g.store.get('carts', 'mine'))?.value ?? []).toString();
    expect(await eventually(async () => (await value(west)) === 'after-wipe', 15_000)).toBe(true);
    expect(await value(east)).toBe('after-wipe');
    // the floor is persisted (loaded again at start)
    const raw = new Redis(c.byName('east').redis.url);
    const floor = Number(await raw.get(`${c.byName('east').config.redis.keyPrefix}vvfloor`));
    raw.disconnect();
    expect(floor).toBeGreaterThan(Date.now() - 60_000);
    expect((await east.store.get('carts', 'mine'))?.version).toMatch(/^east:\d{13}$/);
  });
});

describe('a Redis that loses its data under the running gateway (real redis-server)', () => {
  it('no write lands unnoticed: counters jump past the old ones, replication restarts, the peer\'s data comes back', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    for (const k of keys) expect((await put(west.url, `carts/${k}`, `v-${k}`)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await put(east.url, 'carts/mine', `before-${i}`)).status).toBeLessThan(300);
    const value = async (g: typeof east, key: string) => Buffer.from((await g.store.get('carts', key))?.value ?? []).toString();
    expect(await eventually(async () => (await value(west, 'mine')) === 'before-2' && (await value(east, 'k39')) === 'v-k39', 10_000)).toBe(true);

    const raw = new Redis(c.byName('east').redis.url);
    await raw.flushall();
    raw.disconnect();
    // the first write may meet the script's identity check (503 store_reset, not acknowledged)
    const statuses: number[] = [];
    expect(await eventually(async () => {
      const res = await put(east.url, 'carts/mine', 'after-loss');
      statuses.push(res.status);
      if (res.status === 503) expect((await res.json() as { error: { code: string } }).error.code).toBe('store_reset');
      return res.status < 300; // 200 when west's copy came back first
    }, 10_000, 100)).toBe(true);
    expect(statuses.every((s) => s === 200 || s === 201 || s === 503), `statuses ${statuses.join(',')}`).toBe(true);
    expect((await put(east.url, 'carts/fresh', 'new')).status).toBe(201);

    // the write after the loss is not dominated by west's {east:3}; the new log reaches west
    expect(await eventually(async () => (await value(west, 'mine')) === 'after-loss' && (await value(west, 'fresh')) === 'new', 15_000)).toBe(true);
    expect(await value(east, 'mine')).toBe('after-loss');
    // east's data comes back from west
    expect(await eventually(async () => {
      for (const k of keys) if ((await value(east, k)) !== `v-${k}`) return false;
      return true;
    }, 20_000)).toBe(true);
    const metrics = await (await fetch(`${east.url}/metrics`)).text();
    expect(metrics).toMatch(/geogate_store_data_lost_total\{[^}]*\} 1|geogate_store_data_lost_total 1/);
  });

  it('a Redis that comes back from an older snapshot (log seq below what was acknowledged) is treated the same way', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    const east = c.byName('east').gateway;
    const west = c.byName('west').gateway;
    for (let i = 0; i < 10; i++) expect((await put(east.url, `carts/r${i}`, `v${i}`)).status).toBe(201);
    const value = async (g: typeof east, key: string) => Buffer.from((await g.store.get('carts', key))?.value ?? []).toString();
    expect(await eventually(async () => (await value(west, 'r9')) === 'v9', 10_000)).toBe(true);
    // rewind east's log seq (what a restart from an older AOF/RDB does to it); west's cursor
    // for east's log stays at 10
    const raw = new Redis(c.byName('east').redis.url);
    const prefix = c.byName('east').config.redis.keyPrefix;
    await raw.multi().set(`${prefix}seq`, '2').del(`${prefix}log`, `${prefix}logbytes`).exec(); // the log as of seq 2: gone by then (trimmed)
    raw.disconnect();
    const lost = async () => /geogate_store_data_lost_total(\{[^}]*\})? 1/.test(await (await fetch(`${east.url}/metrics`)).text());
    expect(await eventually(lost, 5_000)).toBe(true);
    // the next writes get seqs 3.. again: only a new log incarnation makes west take them
    expect((await put(east.url, 'carts/after-rewind', 'x')).status).toBe(201);
    expect(await eventually(async () => (await value(west, 'after-rewind')) === 'x', 15_000)).toBe(true);
  });
});
