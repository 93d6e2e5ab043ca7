/**
 * geogate/client against real gateways and redis-servers (issue 13 item 1): a 307 to the
 * partition's active region is followed, a write whose first attempt timed out is applied
 * once (the client's Idempotency-Key), and with the first region's gateway down the client
 * fails over to the second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeogateClient, GeogateHttpError, GeogateUnavailableError, type ClientEvent } from '../../client/index.js';
import { startCluster } from '../helpers/cluster.js';
import { keysActiveAt } from '../helpers/split.js';

const KEYSPACES = [
  { name: 'orders', partitions: 8, onSplit: 'fence' },
  { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' },
  { name: 'hits', partitions: 8, onSplit: 'diverge', writes: 'multi-master', resolver: 'counter' },
];

describe('geogate/client on a real 2-region cluster', () => {
  let c: Awaited<ReturnType<typeof startCluster>>;
  let eastUrl: string;
  let westUrl: string;
  beforeAll(async () => {
    c = await startCluster(['east', 'west'], { extra: { keyspaces: KEYSPACES } });
    eastUrl = c.byName('east').gateway.url;
    westUrl = c.byName('west').gateway.url;
  });
  afterAll(async () => { await c?.stop(); });

  it('follows a 307 to the active region; conditional writes with versions', async () => {
    const events: ClientEvent[] = [];
    const client = new GeogateClient({ regions: [eastUrl], onEvent: (e) => events.push(e) });
    const [key] = keysActiveAt(c, 'west', 1, { keyspace: 'orders' });
    const put = await client.put('orders', key!, 'v1', { ifAbsent: true });
    expect(put).toMatchObject({ created: true, version: 'west:1', replayed: false });
    expect(events.some((e) => e.type === 'redirect' && e.to.startsWith(westUrl))).toBe(true);
    const up = await client.put('orders', key!, 'v2', { ifVersion: put.version });
    expect(up.version).toBe('west:2');
    const stale = client.put('orders', key!, 'v3', { ifVersion: put.version });
    await expect(stale).rejects.toBeInstanceOf(GeogateHttpError);
    await expect(stale).rejects.toMatchObject({ status: 412, code: 'precondition_failed' });
    await expect.poll(async () => (await client.get('orders', key!))?.version, { timeout: 5000 }).toBe('west:2');
  });

  it('put with ttlSeconds through a 307 (the redirect keeps ?ttl=), expire() sets and removes it, undefined for an absent key', async () => {
    const events: ClientEvent[] = [];
    const client = new GeogateClient({ regions: [eastUrl], onEvent: (e) => events.push(e) });
    const [key] = keysActiveAt(c, 'west', 1, { keyspace: 'orders' });
    const put = await client.put('orders', key!, 'short-lived', { ttlSeconds: 600 });
    expect(events.some((e) => e.type === 'redirect' && e.to.startsWith(westUrl))).toBe(true);
    expect(put.expiresAtMs).toBeGreaterThan(Date.now() + 590_000);
    const west = new GeogateClient({ regions: [westUrl] });
    expect((await west.get('orders', key!))?.expiresAtMs).toBe(put.expiresAtMs);
    const longer = await client.expire('orders', key!, 1200);
    expect(longer!.expiresAtMs).toBeGreaterThan(put.expiresAtMs! + 590_000);
    const persisted = await client.expire('orders', key!, 0);
    expect(persisted!.expiresAtMs).toBeUndefined();
    expect(await west.get('orders', key!)).toMatchObject({ value: new TextEncoder().encode('short-lived'), version: persisted!.version });
    expect((await west.get('orders', key!))!.expiresAtMs).toBeUndefined();
    expect(await client.expire('orders', `${key}-absent`, 5)).toBeUndefined();
    expect(() => client.put('orders', key!, 'x', { ttlSeconds: -1 })).toThrow(RangeError);
  });

  it('a write whose first attempt timed out (Redis frozen) is applied once: the retry carries the same Idempotency-Key', async () => {
    const events: ClientEvent[] = [];
    const client = new GeogateClient({ regions: [eastUrl], requestTimeoutMs: 300, retryAfterMsMax: 200, onEvent: (e) => events.push(e) });
    const redis = c.byName('east').redis;
    redis.freeze();
    const thaw = setTimeout(() => redis.thaw(), 700);
    try {
      const res = await client.incr('hits', 'h-once', 5);
      expect(res.replayed).toBe(true); // answered by the first outcome
      expect(res.version).toBe('east:1');
    } finally {
      clearTimeout(thaw);
      redis.thaw();
    }
    expect(events.filter((e) => e.type === 'failover').length).toBeGreaterThanOrEqual(1);
    const rec = await client.get('hits', 'h-once');
    expect(JSON.parse(Buffer.from(rec!.value).toString())).toEqual({ n: {}, p: { east: 5 } });
    expect(rec!.version).toBe('east:1');
  });

  it('add / remove / delete through the client', async () => {
    const client = new GeogateClient({ regions: [eastUrl, westUrl] });
    expect((await client.put('carts', 'c-del', 'x')).created).toBe(true);
    expect((await client.delete('carts', 'c-del')).deleted).toBe(true);
    expect(await client.get('carts', 'c-del')).toBeUndefined();
    await expect(client.add('carts', 'c-set', ['a'])).rejects.toMatchObject({ status: 409, code: 'operation_not_supported' });
  });

  it('fails over to the second region when the first is down; bounded when all are', async () => {
    await c.stopGateway('east');
    const events: ClientEvent[] = [];
    const client = new GeogateClient({ regions: [eastUrl, westUrl], onEvent: (e) => events.push(e) });
    const res = await client.put('carts', 'c-failover', 'w');
    expect(res.created).toBe(true);
    expect(res.version).toBe('west:1');
    expect(events.find((e) => e.type === 'failover')).toMatchObject({ from: expect.stringContaining(eastUrl), to: expect.stringContaining(westUrl) });
    expect((await client.get('carts', 'c-failover'))?.region).toBe('west');
    const none = new GeogateClient({ regions: [eastUrl], attemptsMax: 3, requestTimeoutMs: 200 });
    const started = performance.now();
    await expect(none.get('carts', 'x')).rejects.toBeInstanceOf(GeogateUnavailableError);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
