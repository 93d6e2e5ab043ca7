/**
 * Liveness and readiness on real redis-server processes: /healthz answers while the process
 * lives; /readyz only when the region can take the writes it should — and names each check
 * that fails (store, bootstrap, links, leases). And /v1/status right after a restart says
 * `unknown` for a partition whose owner the region has not heard yet, instead of a guess.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, startRegion, eventually } from '../helpers/cluster.js';
import { startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

interface ReadyBody { ready: boolean; failing: string[]; degraded: string[]; checks: { name: string; ok: boolean; detail: string }[] }
interface StatusBody { keyspaces: { name: string; partitions: { partition: number; active: string | null; epoch: number | null; state: string }[] }[] }

/** The region's readiness, or one keyspace's (`orders` is fence: it needs links and leases; `carts` is diverge). */
const readyz = async (url: string, keyspace?: string) => {
  const res = await fetch(`${url}/readyz${keyspace ? `?keyspace=${keyspace}` : ''}`);
  return { status: res.status, body: await res.json() as ReadyBody };
};
const healthz = async (url: string) => (await fetch(`${url}/healthz`)).status;
const put = (url: string, path: string, body: string) => fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body) });
const orders = async (url: string) => ((await (await fetch(`${url}/v1/status`)).json()) as StatusBody).keyspaces.find((k) => k.name === 'orders')!.partitions;

describe('/healthz and /readyz (real redis-server)', () => {
  it('a region whose store started empty: /healthz 200 while writes answer 503 bootstrapping and /readyz 503 names bootstrap; ready after it', async () => {
    cluster = await startCluster(['east', 'west']);
    const c = cluster;
    for (let i = 0; i < 20; i++) expect((await put(c.byName('west').gateway.url, `carts/k${i}`, `v${i}`)).status).toBe(201);
    expect(await eventually(async () => (await c.byName('east').gateway.store.get('carts', 'k19')) !== null, 10_000)).toBe(true);
    await c.stopGateway('west');
    await c.stopGateway('east');
    const raw = new Redis(c.byName('east').redis.url);
    await raw.flushall();
    raw.disconnect();
    const east = c.byName('east');
    east.gateway = await startGateway(east.config, { log: silentLogger() }); // its peer is down: nothing to bootstrap from

    const refused = await put(east.gateway.url, 'carts/new', 'x');
    expect(refused.status).toBe(503);
    expect((await refused.json() as { error: { code: string } }).error.code).toBe('bootstrapping');
    expect(await healthz(east.gateway.url)).toBe(200); // the process lives
    const notReady = await readyz(east.gateway.url);
    expect(notReady.status).toBe(503);
    expect(notReady.body.ready).toBe(false);
    expect(notReady.body.failing).toContain('bootstrap');
    expect(notReady.body.checks.find((k) => k.name === 'bootstrap')?.detail).toMatch(/rebuilt from the peers/);
    expect(notReady.body.checks.find((k) => k.name === 'store')?.ok).toBe(true);

    const west = c.byName('west');
    west.gateway = await startGateway(west.config, { log: silentLogger() });
    expect(await eventually(async () => (await readyz(east.gateway.url)).status === 200, 15_000, 100)).toBe(true);
    expect((await put(east.gateway.url, 'carts/new', 'x')).status).toBe(201);
    const ready = await readyz(east.gateway.url);
    expect(ready.body).toMatchObject({ ready: true, failing: [] });
    expect(ready.body.checks.map((k) => k.name)).toEqual(['store', 'bootstrap', 'links', 'leases']);
  });

  it('Redis stopped: /readyz 503 naming store while /healthz stays 200; ready again when Redis is back', async () => {
    const r = await startRegion('east');
    cleanups.push(() => r.stop());
    expect(await eventually(async () => (await readyz(r.gateway.url)).status === 200, 10_000)).toBe(true);
    await r.redis.kill();
    const down = await readyz(r.gateway.url);
    expect(down.status).toBe(503);
    expect(down.body.failing).toContain('store');
    expect(down.body.checks.find((k) => k.name === 'store')?.detail).toMatch(/Redis does not answer/);
    expect(await healthz(r.gateway.url)).toBe(200);
    await r.redis.start();
    expect(await eventually(async () => (await readyz(r.gateway.url)).status === 200, 10_000, 100)).toBe(true);
  });

  it('a peer never reached since start (no witness): /readyz 503 naming links; ready once it answered', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, waitWritable: false });
    const c = cluster;
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    await c.restartGateway('east');
    const cut = await readyz(c.byName('east').gateway.url, 'orders');
    expect(cut.status).toBe(503);
    expect(cut.body.failing).toContain('links');
    expect(cut.body.checks.find((k) => k.name === 'links')?.detail).toMatch(/never reached since start: west/);
    // for the region as a whole (it has a diverge keyspace, carts) links only degrade readiness
    // (here the unclean restart's rollback check still holds writes: bootstrap fails)
    const whole = await readyz(c.byName('east').gateway.url);
    expect(whole.body.failing).not.toContain('links');
    expect(whole.body.degraded).toContain('links');
    c.healAll();
    expect(await eventually(async () => (await readyz(c.byName('east').gateway.url, 'orders')).status === 200, 15_000, 100)).toBe(true);
    // a peer lost after it was reached: alone, knowingly (static ownership takes its writes)
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    expect(await eventually(async () => {
      const r = await readyz(c.byName('east').gateway.url, 'orders');
      return r.status === 200 && /alone, knowingly: west \(down\)/.test(r.body.checks.find((k) => k.name === 'links')?.detail ?? '');
    }, 10_000, 100)).toBe(true);
  });
});

describe('/v1/status right after a restart (witness)', () => {
  it('says unknown (active null) for partitions whose owner it has not heard yet, then the learnt owners; /readyz waits for them', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, witness: true });
    const c = cluster;
    const before = await orders(c.byName('east').gateway.url);
    expect(before.every((p) => p.state !== 'unknown' && p.active !== null && typeof p.epoch === 'number')).toBe(true);
    const eastHome = before.filter((p) => p.active === 'east').map((p) => p.partition);
    expect(eastHome.length).toBeGreaterThan(0);

    // east restarts cut off from everything: nobody tells it who owns what
    c.isolate('east');
    await c.restartGateway('east');
    const url = c.byName('east').gateway.url;
    const after = await orders(url);
    expect(after.map((p) => p.state)).toEqual(after.map(() => 'unknown'));
    expect(after.every((p) => p.active === null && p.epoch === null)).toBe(true);
    const notReady = await readyz(url, 'orders');
    expect(notReady.status).toBe(503);
    expect(notReady.body.failing).toEqual(expect.arrayContaining(['links', 'leases']));
    expect((await readyz(url)).body).toMatchObject({ ready: true, degraded: expect.arrayContaining(['links']) }); // carts (diverge) takes writes
    expect(notReady.body.checks.find((k) => k.name === 'leases')?.detail).toMatch(/owner not learnt yet for \d+ partitions \(orders\/0/);
    // writes there stay refused while unknown
    const keyOfEast = await keyOn(c, 'east', eastHome[0]!);
    expect((await put(url, `orders/${keyOfEast}`, 'x')).status).toBe(503);

    c.healAll();
    expect(await eventually(async () => (await orders(url)).every((p) => p.state !== 'unknown' && p.active !== null), 10_000, 50)).toBe(true);
    expect(await eventually(async () => (await readyz(url, 'orders')).status === 200, 15_000, 100)).toBe(true);
    const learnt = await orders(url);
    expect(learnt.filter((p) => p.active === 'east').map((p) => p.partition)).toEqual(eastHome);
  });
});

/** A key of `orders` in `partition` (the region's own partition map). */
async function keyOn(c: Cluster, region: string, partition: number): Promise<string> {
  const map = c.byName(region).gateway.context.maps.get('orders')!;
  for (let i = 0; i < 100_000; i++) if (map.place(`k${i}`).partition === partition) return `k${i}`;
  throw new Error(`no key found for orders/${partition}`);
}
