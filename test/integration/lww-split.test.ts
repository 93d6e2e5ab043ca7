/**
 * Merge after a WAN split through the real gateways (witness, WAN relays, real redis-server):
 *  - lww: east writes a key once, then west writes it five times while cut off; the key's
 *    partition resolves at east. After the heal west's 5th write is the value everywhere.
 *    With 2 gateway instances per region as well, each region's writes through its instance
 *    that is not the coordinator.
 *  - 200 KiB values written on both sides: every loser is recoverable byte for byte from
 *    GET /v1/conflicts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';
import { keysActiveAt, settled, splitEastWest } from '../helpers/split.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const put = (url: string, key: string, body: Buffer) =>
  fetch(`${url}/v1/kv/carts/${encodeURIComponent(key)}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } }).then(async (r) => { await r.arrayBuffer(); return r.status; });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('merge after a split, through the gateways', () => {
  it.each([1, 2])('lww: east writes once, west five times during the split, resolved at east → west\'s 5th write wins everywhere (%i gateway instance(s) per region)', async (gatewaysPerRegion) => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true, gatewaysPerRegion });
    const c = cluster;
    // the last instance: with several, one that is not the coordinator (the first one is)
    const east = c.byName('east').instances.at(-1)!.gateway;
    const west = c.byName('west').instances.at(-1)!.gateway;
    if (gatewaysPerRegion > 1) expect([east, west].every((g) => g.replicator === undefined)).toBe(true);
    const keys = keysActiveAt(c, 'east', 12);
    expect(keys).toHaveLength(12);
    await splitEastWest(c);
    for (const key of keys) expect(await put(east.url, key, Buffer.from(`east-1-${key}`))).toBe(201);
    await sleep(5);
    for (let i = 1; i <= 5; i++) {
      for (const key of keys) expect(await put(west.url, key, Buffer.from(`west-${i}-${key}`))).toBeLessThan(300);
      await sleep(3);
    }
    c.healAll();
    expect(await eventually(() => settled(c, keys), 30_000, 200)).toBe(true);
    const wrong: string[] = [];
    for (const r of c.regions) {
      for (const key of keys) {
        const got = Buffer.from((await r.gateway.store.get('carts', key))!.value).toString();
        if (got !== `west-5-${key}`) wrong.push(`${r.region}/${key}=${got}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('200 KiB values on both sides of a split: every loser is recoverable byte for byte from the journal', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    const keys = [...keysActiveAt(c, 'east', 3), ...keysActiveAt(c, 'west', 3)];
    await splitEastWest(c);
    const written = new Map<string, Buffer>();
    for (const [i, key] of keys.entries()) {
      for (const r of c.regions) {
        const value = Buffer.alloc(200 * 1024, `${r.region}:${key}:${i};`);
        written.set(`${r.region}/${key}`, value);
        expect(await put(r.gateway.url, key, value)).toBe(201);
      }
    }
    c.healAll();
    expect(await eventually(() => settled(c, keys), 30_000, 200)).toBe(true);
    const entries: Record<string, string>[] = [];
    for (const r of c.regions) {
      const body = (await (await fetch(`${r.gateway.url}/v1/conflicts?keyspace=carts&limit=100`)).json()) as { conflicts: Record<string, string>[] };
      entries.push(...body.conflicts);
    }
    const lost: string[] = [];
    for (const key of keys) {
      const e = entries.find((x) => x.key === key);
      expect(e, `journal entry for ${key}`).toBeDefined();
      const final = Buffer.from((await c.regions[0]!.gateway.store.get('carts', key))!.value);
      for (const side of ['current', 'incoming']) {
        const origin = e![`${side}Origin`]!;
        const value = Buffer.from(e![`${side}Value`] ?? '', 'base64');
        if (!value.equals(written.get(`${origin}/${key}`)!)) lost.push(`${key}: ${side} (${origin}) has ${value.byteLength} bytes`);
      }
      const loserOrigin = e!.winner === 'current' ? e!.incomingOrigin : e!.currentOrigin;
      expect(final.equals(written.get(`${loserOrigin}/${key}`)!)).toBe(false);
    }
    expect(lost).toEqual([]);
  });
});
