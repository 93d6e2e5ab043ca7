/**
 * Idempotency-Key outcomes replicated with the write (issue 13 item 2): two regions on real
 * redis-servers, gateways and a witness. A write with a key at east, retried at west once it
 * replicated, is answered with the first outcome (not applied twice: an incr makes a double
 * application visible in the count); another request with the key is 422 there; a region
 * at its cap applies the change without remembering it (counted) and refuses the retry; on
 * a single-master keyspace the retry at the non-owner is redirected, and after a failover
 * the new owner answers it from the replicated outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, eventually } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
const KEYSPACES = [
  { name: 'orders', partitions: 8, onSplit: 'fence' },
  { name: 'hits', partitions: 8, onSplit: 'diverge', writes: 'multi-master', resolver: 'counter' },
  {
    name: 'synced', partitions: 4, rotateHomes: false, onSplit: 'diverge', writes: 'multi-master', resolver: 'counter',
    nodes: [{ region: 'east' }, { region: 'west', replication: 'sync' }], syncTimeoutMs: 5000, onSyncTimeout: 'fail',
  },
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const total = (doc: { p?: Record<string, number>; n?: Record<string, number> }) =>
  Object.values(doc.p ?? {}).reduce((s, x) => s + x, 0) - Object.values(doc.n ?? {}).reduce((s, x) => s + x, 0);
const incr = (base: string, key: string, by: number, idem: string, ks = 'hits') =>
  fetch(`${base}/v1/kv/${ks}/${key}/incr`, { method: 'POST', body: JSON.stringify({ by }), headers: { 'content-type': 'application/json', 'idempotency-key': idem } });
const count = async (base: string, key: string, ks = 'hits') => {
  const res = await fetch(`${base}/v1/kv/${ks}/${key}`);
  return res.status === 200 ? total(await res.json()) : null;
};

describe('Idempotency-Key outcomes across regions', () => {
  let c: Cluster;
  let east: string;
  let west: string;
  beforeAll(async () => {
    c = await startCluster(['east', 'west'], { witness: true, wan: true, extra: { keyspaces: KEYSPACES } });
    east = c.byName('east').gateway.url;
    west = c.byName('west').gateway.url;
  });
  afterAll(async () => { await c?.stop(); });

  it('an incr retried at west after it replicated is replayed, not applied twice', async () => {
    const first = await incr(east, 'h-1', 5, 'rk-1');
    expect(first.status).toBe(201);
    expect(await eventually(async () => (await count(west, 'h-1')) === 5)).toBe(true);
    const retry = await incr(west, 'h-1', 5, 'rk-1');
    expect(retry.status).toBe(201); // east's first answer: created
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(retry.headers.get('x-geogate-hlc')).toBe(first.headers.get('x-geogate-hlc'));
    expect(await retry.json()).toEqual({ version: 'east:1', created: true });
    await sleep(300); // a second application at west would replicate back to east by now
    expect(await count(west, 'h-1')).toBe(5);
    expect(await count(east, 'h-1')).toBe(5);
  });

  it('the key used at west for another request (another body) is 422, nothing written', async () => {
    expect((await incr(east, 'h-2', 2, 'rk-2')).status).toBe(201);
    expect(await eventually(async () => (await count(west, 'h-2')) === 2)).toBe(true);
    const other = await incr(west, 'h-2', 3, 'rk-2');
    expect(other.status).toBe(422);
    expect((await other.json()).error.code).toBe('idempotency_key_reused');
    await sleep(300);
    expect(await count(west, 'h-2')).toBe(2);
    expect(await count(east, 'h-2')).toBe(2);
  });

  it('a change west first held as a concurrent version (written at both during a cut) is replayed there with the first outcome', async () => {
    for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).cut('both', 'blackhole');
    let first: Response;
    try {
      first = await incr(east, 'h-3', 4, 'rk-3');
      expect(first.status).toBe(201);
      expect((await incr(west, 'h-3', 1, 'west-own-3')).status).toBe(201);
    } finally {
      c.healAll();
    }
    // the two versions are concurrent: west keeps east's pending until the counter resolver merges them
    expect(await eventually(async () => (await count(west, 'h-3')) === 5 && (await count(east, 'h-3')) === 5, 20_000)).toBe(true);
    const retry = await incr(west, 'h-3', 4, 'rk-3');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag')); // east's version, not the merged one
    await sleep(300);
    expect(await count(west, 'h-3')).toBe(5);
  }, 30_000);

  it('the window before the change arrived: a retry at west is a new write, unless west is a sync replica of the keyspace', async () => {
    for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).set('both', { delayMs: 300 });
    try {
      // async keyspace: east answered, the change is still on its way, the retry at west is applied there
      expect((await incr(east, 'win-1', 1, 'rk-win-1')).status).toBe(201);
      const early = await incr(west, 'win-1', 1, 'rk-win-1');
      expect(early.status).toBe(201); // west had no record yet: created there, not replayed
      expect(early.headers.get('x-geogate-idempotent-replay')).toBeNull();
      expect(await eventually(async () => (await count(east, 'win-1')) === 2 && (await count(west, 'win-1')) === 2, 10_000)).toBe(true);
      // west a sync replica: east answered only after west applied it, so the retry there is replayed
      const first = await incr(east, 'win-2', 1, 'rk-win-2', 'synced');
      expect(first.status).toBe(201);
      const retry = await incr(west, 'win-2', 1, 'rk-win-2', 'synced');
      expect(retry.status).toBe(201);
      expect(retry.headers.get('x-geogate-idempotent-replay')).toBe('true');
      expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
      await sleep(1000); // a second application would have come back to east by now
      expect(await count(east, 'win-2', 'synced')).toBe(1);
      expect(await count(west, 'win-2', 'synced')).toBe(1);
    } finally {
      for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).set('both', { delayMs: 0 });
    }
  }, 30_000);

  it('single-master: the retry at the non-owner is redirected to the owner, which replays it; after a failover the new owner replays it', async () => {
    // a key whose partition east owns: west redirects a write of it to east
    let key = '';
    for (let i = 0; i < 64 && !key; i++) {
      const probe = await fetch(`${west}/v1/kv/orders/o-${i}`, { method: 'PUT', body: 'probe', redirect: 'manual' });
      await probe.arrayBuffer();
      if (probe.status === 307 && probe.headers.get('location')?.startsWith(east)) key = `o-${i}`;
    }
    expect(key).not.toBe('');
    const put = (base: string) => fetch(`${base}/v1/kv/orders/${key}`, { method: 'PUT', body: 'order', redirect: 'manual', headers: { 'idempotency-key': 'rk-order' } });
    let first: Response | undefined; // east may still be taking its leases (503 lease-pending)
    expect(await eventually(async () => (first = await put(east)).status !== 503, 10_000, 100)).toBe(true);
    expect(first!.status).toBe(201);
    expect(await eventually(async () => (await fetch(`${west}/v1/kv/orders/${key}`)).status === 200)).toBe(true);
    const atWest = await put(west);
    expect(atWest.status).toBe(307);
    expect(atWest.headers.get('location')).toBe(`${east}/v1/kv/orders/${key}`);
    const followed = await put(east);
    expect(followed.status).toBe(201);
    expect(followed.headers.get('x-geogate-idempotent-replay')).toBe('true');

    await c.stopGateway('east'); // west takes the partition over through the witness
    let after: Response | undefined;
    expect(await eventually(async () => {
      after = await put(west);
      return after.status !== 503 && after.status !== 307;
    }, 20_000, 200)).toBe(true);
    expect(after!.status).toBe(201);
    expect(after!.headers.get('x-geogate-idempotent-replay')).toBe('true');
    expect(after!.headers.get('etag')).toBe(first!.headers.get('etag'));
    expect((await fetch(`${west}/v1/kv/orders/${key}`)).headers.get('etag')).toBe(first!.headers.get('etag'));
  }, 40_000);
});

describe('Idempotency-Key outcomes at a receiving region at its cap', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster(['east', 'west'], {
      extra: { keyspaces: KEYSPACES.slice(1) },
      perRegion: (r) => (r === 'west' ? { idempotency: { entriesMax: 2 } } : {}),
    });
  });
  afterAll(async () => { await c?.stop(); });

  it('the change is applied without its outcome (counted), the link goes on, the retry there is refused with 503 idempotency_full', async () => {
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    expect((await incr(west, 'w-1', 1, 'west-1')).status).toBe(201);
    expect((await incr(west, 'w-2', 1, 'west-2')).status).toBe(201); // west remembers 2: its cap
    expect((await incr(east, 'h-cap', 7, 'rk-cap')).status).toBe(201);
    expect((await fetch(`${east}/v1/kv/hits/h-after`, { method: 'PUT', body: 'x' })).status).toBe(201);
    expect(await eventually(async () => (await count(west, 'h-cap')) === 7 && (await fetch(`${west}/v1/kv/hits/h-after`)).status === 200)).toBe(true);
    const westRegion = c.byName('west');
    const redis = new Redis(westRegion.redis.url);
    try {
      expect(await redis.get(`${westRegion.config.redis.keyPrefix}idemunremembered`)).toBe('1');
    } finally {
      redis.disconnect();
    }
    expect(await (await fetch(`${west}/metrics`)).text()).toMatch(/^geogate_idempotency_unremembered\{region="west"\} 1$/m);
    const retry = await incr(west, 'h-cap', 7, 'rk-cap');
    expect(retry.status).toBe(503);
    expect((await retry.json()).error.code).toBe('idempotency_full');
    expect(await count(west, 'h-cap')).toBe(7);
    // a retry at the origin is still answered there
    expect((await incr(east, 'h-cap', 7, 'rk-cap')).headers.get('x-geogate-idempotent-replay')).toBe('true');
  });
});
