import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const put = (url: string, path: string, body: string) =>
  fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body), redirect: 'manual' });

const keyspaces = [
  { name: 'ledger', partitions: 4, rotateHomes: false, nodes: [{ region: 'east' }, { region: 'west', replication: 'sync' }], syncTimeoutMs: 300, onSyncTimeout: 'fail' },
  { name: 'ledger2', partitions: 4, rotateHomes: false, nodes: [{ region: 'east' }, { region: 'west', replication: 'sync' }], syncTimeoutMs: 300, onSyncTimeout: 'demote' },
  { name: 'carts', partitions: 4, writes: 'multi-master', onSplit: 'diverge' },
];

describe('sync replicas', () => {
  it('a PUT returns after the sync replica applied it; with the replica down: 503 (fail) or demotion (demote)', async () => {
    cluster = await startCluster(['east', 'west'], { extra: { keyspaces } });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => east.gateway.replicator!.status()[0]!.state === 'up', 5000)).toBe(true);
    for (let i = 0; i < 10; i++) {
      expect((await put(east.gateway.url, `ledger/a${i}`, `v${i}`)).status).toBe(201);
      // acknowledged by the sync replica before the response: already readable there
      const rec = await c.byName('west').gateway.store.get('ledger', `a${i}`);
      expect(rec && Buffer.from(rec.value).toString()).toBe(`v${i}`);
    }
    await c.byName('west').gateway.close();
    // the link is down: the wait gives up at once rather than after syncTimeoutMs
    const res = await put(east.gateway.url, 'ledger/down', 'stored-anyway');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.error.code).toBe('sync_replica_timeout');
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await east.gateway.store.get('ledger', 'down'))).not.toBeNull();

    expect((await put(east.gateway.url, 'ledger2/d1', 'x')).status).toBe(201); // the replica misses it: demoted
    const t1 = Date.now();
    expect((await put(east.gateway.url, 'ledger2/d2', 'y')).status).toBe(201); // no longer waits
    expect(Date.now() - t1).toBeLessThan(250);
    const status = await (await fetch(`${east.gateway.url}/v1/status`)).json();
    expect(status.conflicts.demotedSyncReplicas).toEqual(['ledger2/west']);

    await c.restartGateway('west');
    expect(await eventually(async () => (await c.byName('west').gateway.store.get('ledger', 'down')) !== null, 10_000)).toBe(true);
  });
});

describe('sync replica on a stalled WAN link', () => {
  it('waits syncTimeoutMs, then answers 503; the write still replicates when the link recovers', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true, extra: { keyspaces } });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => east.gateway.replicator!.status()[0]!.state === 'up', 5000)).toBe(true);
    expect((await put(east.gateway.url, 'ledger/before', 'x')).status).toBe(201);
    for (const r of c.relays) r.set('both', { stall: true });
    const t0 = Date.now();
    const res = await put(east.gateway.url, 'ledger/stalled', 'y');
    const waited = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(2000);
    for (const r of c.relays) r.set('both', { stall: false });
    expect(await eventually(async () => (await c.byName('west').gateway.store.get('ledger', 'stalled')) !== null, 10_000)).toBe(true);
  });
});

describe('hinted handoff bound', () => {
  it('a peer that falls past the log bound is marked as needing repair, the log stays bounded', async () => {
    cluster = await startCluster(['east', 'west'], { extra: { log: { maxEntries: 32, maxBytes: 1 << 20 } } });
    const c = cluster;
    const east = c.byName('east');
    expect(await eventually(() => east.gateway.replicator!.status()[0]!.state === 'up', 5000)).toBe(true);
    await c.byName('west').gateway.close();
    for (let i = 0; i < 100; i++) expect((await put(east.gateway.url, `carts/h${i}`, `v${i}`)).status).toBe(201);
    const bounds = await east.gateway.store.bounds();
    expect(bounds.length).toBeLessThanOrEqual(32);
    expect(bounds.lastSeq).toBe(100);
    // the mark is transient (anti-entropy repairs and clears it within moments): record it as it happens
    const marked: string[] = [];
    east.gateway.replicator!.onNeedsRepair((peer) => marked.push(peer));
    await c.restartGateway('west');
    expect(await eventually(() => marked.includes('west'), 10_000)).toBe(true);
    const metrics = await (await fetch(`${east.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/geogate_replication_log_gaps_total\{[^}]*peer="west"[^}]*\} [1-9]/);
    // what is still in the log ships; anti-entropy brings the trimmed rest; then the mark is cleared
    const westStore = c.byName('west').gateway.store;
    expect(await eventually(async () => {
      for (let i = 0; i < 100; i++) if ((await westStore.get('carts', `h${i}`)) === null) return false;
      return true;
    }, 15_000)).toBe(true);
    expect(await eventually(() => !east.gateway.replicator!.status()[0]!.needsRepair, 10_000)).toBe(true);
  });
});
