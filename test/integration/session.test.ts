/**
 * Session tokens (issue 13 item 1): read-your-writes across regions. Two regions on real
 * redis-servers and gateways, their links through the WAN relay on loopback (delayed or cut):
 * a read at west right after a write at east waits with the write's token and gets the new
 * value (without it, the old one); over a cut link it answers 503 session_stale within the
 * bound; bad tokens are 400 naming the header; the client carries its token across a
 * failover and between processes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster, eventually } from '../helpers/cluster.js';
import { putAcked, runCleanups, twoRegions } from '../helpers/two-regions.js';
import { WanRelay } from '../../infra/wan/index.js';
import { freePort } from '../../infra/local/ports.js';
import { GeogateClient } from '../../client/index.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
const DELAY_MS = 250;
const WAIT_MS = 1500;
const put = (base: string, key: string, body: string) => fetch(`${base}/v1/kv/carts/${key}`, { method: 'PUT', body });
const get = (base: string, key: string, session?: string) => fetch(`${base}/v1/kv/carts/${key}`, { headers: session ? { 'x-geogate-session': session } : {} });

describe('session tokens: read-your-writes across regions', () => {
  let c: Cluster;
  let east: string;
  let west: string;
  const slow = (ms: number) => { for (const [a, b] of [['east', 'west'], ['west', 'east']] as const) c.relay(a, b).set('both', { delayMs: ms }); };
  beforeAll(async () => {
    c = await startCluster(['east', 'west'], { wan: true, extra: { session: { waitMs: WAIT_MS, waitersMax: 4 } } });
    east = c.byName('east').gateway.url;
    west = c.byName('west').gateway.url;
  });
  afterAll(async () => { await c?.stop(); });

  it('every write and read answer carries the region\'s token, one entry per region', async () => {
    const w = await put(east, 'tok-1', 'a');
    expect(w.status).toBe(201);
    const token = w.headers.get('x-geogate-session');
    expect(token).toMatch(/^east:[0-9a-f]+:[1-9]\d*(,west:[0-9a-f]+:\d+)?$/);
    expect(await eventually(async () => (await get(west, 'tok-1')).status === 200)).toBe(true);
    const r = await get(west, 'tok-1');
    expect(r.headers.get('x-geogate-session')).toMatch(/^east:[0-9a-f]+:\d+,west:[0-9a-f]+:\d+$/);
    const absent = await get(west, 'tok-absent');
    expect(absent.status).toBe(404);
    expect(absent.headers.get('x-geogate-session')).toMatch(/^east:[0-9a-f]+:\d+,west:[0-9a-f]+:\d+$/);
  });

  it('over a slowed link a read at west with the write\'s token waits and returns the new value; without it, the old one', async () => {
    expect((await put(east, 'ryw-1', 'old')).status).toBe(201);
    expect(await eventually(async () => (await (await get(west, 'ryw-1')).text()) === 'old')).toBe(true);
    slow(DELAY_MS);
    try {
      const w = await put(east, 'ryw-1', 'new');
      expect(w.status).toBe(200);
      const token = w.headers.get('x-geogate-session')!;
      const plain = await get(west, 'ryw-1');
      expect(await plain.text()).toBe('old'); // no token: whatever west holds now
      const t0 = performance.now();
      const withToken = await get(west, 'ryw-1', token);
      const waitedMs = performance.now() - t0;
      expect(withToken.status).toBe(200);
      expect(await withToken.text()).toBe('new');
      expect(waitedMs).toBeGreaterThan(50); // it did wait for the change to arrive
      expect(waitedMs).toBeLessThan(WAIT_MS);
    } finally {
      slow(0);
    }
  });

  it('_mget and the listing wait for the token too, and answer with one', async () => {
    slow(DELAY_MS);
    try {
      const w = await put(east, 'batch-1', 'fresh');
      const token = w.headers.get('x-geogate-session')!;
      const headers = { 'x-geogate-session': token, 'content-type': 'application/json' };
      const mget = await fetch(`${west}/v1/kv/carts/_mget`, { method: 'POST', body: JSON.stringify({ keys: ['batch-1'] }), headers });
      expect(mget.status).toBe(200);
      expect((await mget.json()).results[0]).toMatchObject({ key: 'batch-1', found: true, value: 'fresh' });
      expect(mget.headers.get('x-geogate-session')).toMatch(/east:/);
      const w2 = await put(east, 'batch-2', 'fresh');
      const listed = await fetch(`${west}/v1/kv/carts?prefix=batch-&limit=1000`, { headers: { 'x-geogate-session': w2.headers.get('x-geogate-session')! } });
      expect(listed.status).toBe(200);
      expect(listed.headers.get('x-geogate-session')).toMatch(/east:/);
      const body = await listed.json() as { keys: string[]; next: string | null };
      expect(body.next).toBeNull();
      expect(body.keys.sort()).toEqual(['batch-1', 'batch-2']);
      const bad = await fetch(`${west}/v1/kv/carts?prefix=batch-`, { headers: { 'x-geogate-session': 'nonsense' } });
      expect(bad.status).toBe(400);
    } finally {
      slow(0);
    }
  });

  it('over a cut link: 503 session_stale within the bound, with Retry-After, naming what west lacks', async () => {
    c.relay('east', 'west').cut('both', 'blackhole');
    c.relay('west', 'east').cut('both', 'blackhole');
    try {
      const w = await put(east, 'cut-1', 'x');
      expect(w.status).toBe(201);
      const token = w.headers.get('x-geogate-session')!;
      const t0 = performance.now();
      const r = await get(west, 'cut-1', token);
      const tookMs = performance.now() - t0;
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      const err = (await r.json()).error;
      expect(err.code).toBe('session_stale');
      expect(err.message).toMatch(/east/);
      expect(err.message).toMatch(/seq \d+/);
      expect(tookMs).toBeGreaterThanOrEqual(WAIT_MS - 50);
      expect(tookMs).toBeLessThan(WAIT_MS + 1000);
      // more waiters than session.waitersMax at once: the ones over it are refused at once
      const many = await Promise.all(Array.from({ length: 6 }, () => get(west, 'cut-1', token)));
      const codes = await Promise.all(many.map(async (m) => (await m.json()).error.code));
      expect(codes.filter((x) => x === 'session_waiters_full').length).toBe(2);
      expect(codes.filter((x) => x === 'session_stale').length).toBe(4);
      const metrics = await (await fetch(`${west}/metrics`)).text();
      expect(metrics).toMatch(/^geogate_session_reads_total\{outcome="waiters_full",region="west"\} 2$/m);
      expect(metrics).toMatch(/^geogate_session_reads_total\{outcome="stale",region="west"\} 5$/m);
      expect(metrics).toMatch(/^geogate_session_waiting\{region="west"\} 0$/m);
    } finally {
      c.healAll();
    }
    expect(await eventually(async () => (await get(west, 'cut-1')).status === 200, 15_000)).toBe(true);
  }, 20_000);

  it('a malformed, oversized or foreign token is 400 naming the header', async () => {
    for (const bad of ['nonsense', 'east:xyz:1', 'west:ab:1,east:ab:2', `east:ab:1${',x'.repeat(2000)}`, 'mars:ab:1']) {
      const r = await get(west, 'tok-1', bad);
      expect(r.status, bad.slice(0, 40)).toBe(400);
      const err = (await r.json()).error;
      expect(err.code).toBe('bad_session_token');
      expect(err.message).toMatch(/x-geogate-session/);
    }
    expect((await (await get(west, 'tok-1', 'mars:ab:1')).json()).error.message).toMatch(/mars/);
    const w = await fetch(`${west}/v1/kv/carts/tok-2`, { method: 'PUT', body: 'x', headers: { 'x-geogate-session': 'nonsense' } });
    expect(w.status).toBe(400);
  });

  it('the client merges tokens, sends them on every request and carries them across a failover and to another process', async () => {
    // the client reaches east through a relay of its own, so east can vanish for it alone
    const front = new WanRelay({ listen: { host: '127.0.0.1', port: await freePort() }, target: { host: '127.0.0.1', port: c.byName('east').port } });
    const { port } = await front.start();
    try {
      const events: string[] = [];
      const client = new GeogateClient({ regions: [`http://127.0.0.1:${port}`, west], requestTimeoutMs: 3000, onEvent: (e) => events.push(e.type) });
      await client.put('carts', 'fo-1', 'v1');
      expect(await eventually(async () => (await (await get(west, 'fo-1')).text()) === 'v1')).toBe(true);
      slow(DELAY_MS);
      await client.put('carts', 'fo-1', 'v2');
      const token = client.session();
      expect(token).toMatch(/^east:/);
      front.cut('both', 'reset'); // east unreachable for this client: the read fails over to west
      const rec = await client.get('carts', 'fo-1');
      expect(events).toContain('failover');
      expect(rec?.region).toBe('west');
      expect(Buffer.from(rec!.value).toString()).toBe('v2');
      // the batch reads go through the same loop: they fail over and carry the token too
      await client.put('carts', 'fo-3', 'm1'); // at west (east is cut for this client)
      const [m, missing] = await client.mget('carts', ['fo-3', 'fo-none']);
      expect(m && Buffer.from(m.value).toString()).toBe('m1');
      expect(missing).toBeUndefined();
      expect((await client.list('carts', { prefix: 'fo-', limit: 1000 })).keys.sort()).toEqual(['fo-1', 'fo-3']);
      // another process: the token handed over as text
      await client.put('carts', 'fo-2', 'w1'); // taken by west now
      const other = new GeogateClient({ regions: [east], session: client.session() });
      const back = await other.get('carts', 'fo-2');
      expect(back && Buffer.from(back.value).toString()).toBe('w1');
      expect(() => new GeogateClient({ regions: [east], session: 'nonsense' })).toThrow(/session/);
    } finally {
      slow(0);
      await front.close();
    }
  }, 20_000);
});

describe('session tokens when a region\'s Redis loses its data under its gateway', () => {
  afterEach(runCleanups);

  it('the token names the new log incarnation; a token of the lost one is 503 session_stale at once', async () => {
    const { east, west } = await twoRegions({ appendOnly: true });
    const w = await put(east.gateway.url, 'loss-1', 'before');
    expect(w.status).toBe(201);
    const before = w.headers.get('x-geogate-session')!;
    const raw = new Redis(east.redis.url);
    try {
      const prefix = east.config.redis.keyPrefix;
      const oldIncarnation = await raw.get(`${prefix}incarnation`);
      expect(before).toContain(`east:${oldIncarnation}:`);
      await raw.flushall(); // the data is gone under the running gateway
      // writes are refused (store_reset, bootstrapping) until east rebuilt from west
      expect(await putAcked(east.gateway, 'loss-2', 'after')).toBeLessThan(300);
      // the new incarnation is written by the next read of it (the links, the senders), maybe
      // more than once while the loss is handled: poll until the answers name the current one
      let token = '';
      expect(await eventually(async () => {
        const after = await put(east.gateway.url, 'loss-3', 'after');
        token = after.headers.get('x-geogate-session') ?? '';
        const inc = await raw.get(`${prefix}incarnation`);
        return after.status < 300 && inc !== null && inc !== oldIncarnation && token.includes(`east:${inc}:`);
      }, 20_000, 200)).toBe(true);
      expect(token).not.toContain(`east:${oldIncarnation}:`);
      // west catches up with the new incarnation: the read there waits for it and sees the write
      const atWest = await get(west.gateway.url, 'loss-3', token);
      expect(atWest.status).toBe(200);
      expect(await atWest.text()).toBe('after');
      // the old token names data east no longer holds: refused without waiting
      const t0 = performance.now();
      const stale = await get(east.gateway.url, 'loss-1', before);
      expect(stale.status).toBe(503);
      expect((await stale.json()).error.message).toMatch(new RegExp(`incarnation ${oldIncarnation}`));
      expect(performance.now() - t0).toBeLessThan(500);
    } finally {
      raw.disconnect();
    }
  }, 60_000);
});
