/**
 * The metrics a region exports about itself, measured where they happen, on real processes
 * (redis-server, in-process gateways and witness, WAN relays on loopback): the link's round
 * trip follows the relay's added delay; the journal gauges follow real conflicts, and with
 * the store stopped or frozen a scrape still answers within its bound (NaN gauges); the
 * witness gauge goes 0 when the witness stops and back to 1; the lease-lost counter moves
 * at a region isolated long enough for its partitions to fail over; write latency by status class.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { allLeased, eventually, keysHomedAt, startCluster } from '../helpers/cluster.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const METRICS_BYTES_MAX = 4 * 1024 * 1024;

async function metricsText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}/metrics: HTTP ${res.status}`);
  if (text.length > METRICS_BYTES_MAX) throw new Error(`${url}/metrics: more than ${METRICS_BYTES_MAX} bytes`);
  return text;
}

/** The value of one series (name and labels exactly as given, in any order); undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return sample(await metricsText(url), name, labels);
}

async function peerRtt(url: string, peer: string): Promise<number | null | undefined> {
  const status = await (await fetch(`${url}/v1/status`)).json() as { peers: { region: string; rttMs?: number | null }[] };
  return status.peers.find((p) => p.region === peer)?.rttMs;
}

const put = (url: string, path: string, body: string) =>
  fetch(`${url}/v1/kv/${path}`, { method: 'PUT', body: Buffer.from(body), redirect: 'manual' });

describe('link round trip', () => {
  it('follows the WAN relay: 50 ms each way makes the RTT at least 100 ms at both ends, in /v1/status and /metrics', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    // measured once the link is up (a probe a second), small on loopback
    expect(await eventually(async () => typeof (await peerRtt(east, 'west')) === 'number' && typeof (await peerRtt(west, 'east')) === 'number', 10_000, 100)).toBe(true);
    // small on loopback once the start's work is done (a probe while the store bootstraps can take longer)
    expect(await eventually(async () => ((await peerRtt(east, 'west')) ?? 1000) < 50, 10_000, 100)).toBe(true);
    // east dials west: the link runs through relay east->west
    c.relay('east', 'west').set('both', { delayMs: 50 });
    const delayed = async () => ((await peerRtt(east, 'west')) ?? 0) >= 100 && ((await peerRtt(west, 'east')) ?? 0) >= 100;
    expect(await eventually(delayed, 10_000, 100)).toBe(true);
    for (const [url, peer] of [[east, 'west'], [west, 'east']] as const) {
      const rtt = (await peerRtt(url, peer))!;
      expect(rtt).toBeGreaterThanOrEqual(100);
      expect(rtt).toBeLessThan(400);
      const seconds = await metric(url, 'geogate_link_rtt_seconds', { peer });
      expect(seconds).toBeGreaterThanOrEqual(0.1);
      expect(seconds).toBeLessThan(0.4);
    }
    c.relay('east', 'west').set('both', { delayMs: 0 });
    expect(await eventually(async () => ((await peerRtt(east, 'west')) ?? 1000) < 50, 10_000, 100)).toBe(true);
  }, 60_000);

  it('is null and has no series while the link is down', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const east = c.byName('east').gateway.url;
    expect(await eventually(async () => typeof (await peerRtt(east, 'west')) === 'number', 10_000, 100)).toBe(true);
    c.relay('east', 'west').cut('both', 'reset');
    expect(await eventually(async () => (await peerRtt(east, 'west')) === null, 10_000, 100)).toBe(true);
    expect(await metric(east, 'geogate_link_rtt_seconds', { peer: 'west' })).toBeUndefined();
    c.healAll();
    expect(await eventually(async () => typeof (await peerRtt(east, 'west')) === 'number', 15_000, 100)).toBe(true);
  }, 60_000);
});

describe('journal, outbox and dead-letter gauges', () => {
  it('follow the conflicts a split and heal make', async () => {
    cluster = await startCluster(['east', 'west'], { wan: true });
    const c = cluster;
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    for (const url of [east, west]) {
      expect(await metric(url, 'geogate_journal_entries')).toBe(0);
      expect(await metric(url, 'geogate_journal_bytes')).toBe(0);
      expect(await metric(url, 'geogate_outbox_entries')).toBe(0);
      expect(await metric(url, 'geogate_dead_letters')).toBe(0);
    }
    const keys = Array.from({ length: 6 }, (_, i) => `cart-${i}`);
    c.isolate('east');
    for (const k of keys) {
      expect((await put(east, `carts/${k}`, `east-${k}`)).status).toBeLessThan(300);
      expect((await put(west, `carts/${k}`, `west-${k}`)).status).toBeLessThan(300);
    }
    c.healAll();
    const journaled = async () => {
      const totals = await Promise.all([east, west].map(async (u) => (await (await fetch(`${u}/v1/conflicts?keyspace=carts&limit=1000`)).json()).total as number));
      return totals[0]! + totals[1]! >= keys.length;
    };
    expect(await eventually(journaled, 30_000, 200)).toBe(true);
    for (const url of [east, west]) {
      const listed = (await (await fetch(`${url}/v1/conflicts?limit=1000`)).json()).total as number;
      expect(await metric(url, 'geogate_journal_entries')).toBe(listed);
      if (listed > 0) expect(await metric(url, 'geogate_journal_bytes')).toBeGreaterThan(0);
    }
    const all = (await metric(east, 'geogate_journal_entries'))! + (await metric(west, 'geogate_journal_entries'))!;
    expect(all).toBeGreaterThanOrEqual(keys.length);
  }, 60_000);
});

describe('stream size gauges with the store gone', () => {
  it('a scrape still answers within the bound: the gauges are NaN (not a stale value) and the failed read is counted', async () => {
    cluster = await startCluster(['east']);
    const east = cluster.byName('east');
    expect(await metric(east.gateway.url, 'geogate_journal_entries')).toBe(0);
    await east.redis.stop();
    await new Promise((r) => setTimeout(r, 200)); // past the 100 ms in which one read serves scrapes close together
    const t0 = performance.now();
    const text = await metricsText(east.gateway.url);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(3_000); // STREAM_SIZES_TIMEOUT_MS is 1 s
    for (const name of ['geogate_journal_entries', 'geogate_journal_bytes', 'geogate_outbox_entries', 'geogate_dead_letters']) expect(sample(text, name), name).toBeNaN();
    // counted when the read failed: the counter of the same scrape may already have been serialized
    await new Promise((r) => setTimeout(r, 200));
    expect(await metric(east.gateway.url, 'geogate_store_errors_total', { kind: 'stream-sizes' })).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('a frozen store (answers nothing): the scrape waits the 1 s bound, not longer, then the gauges are NaN; thawed, they are numbers again', async () => {
    cluster = await startCluster(['east']);
    const east = cluster.byName('east');
    expect(await metric(east.gateway.url, 'geogate_journal_entries')).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    east.redis.freeze();
    try {
      const t0 = performance.now();
      const text = await metricsText(east.gateway.url);
      const ms = performance.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(2_500);
      expect(sample(text, 'geogate_journal_entries')).toBeNaN();
    } finally {
      east.redis.thaw();
    }
    expect(await eventually(async () => (await metric(east.gateway.url, 'geogate_journal_entries')) === 0, 10_000, 200)).toBe(true);
  }, 30_000);
});

describe('witness reachability seen by a gateway', () => {
  it('goes 0 when the witness stops and back to 1 when it returns; the answer age grows meanwhile', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    const east = c.byName('east').gateway.url;
    expect(await eventually(async () => (await metric(east, 'geogate_witness_reachable')) === 1, 10_000, 100)).toBe(true);
    const age0 = (await metric(east, 'geogate_witness_last_answer_age_seconds'))!;
    expect(age0).toBeGreaterThanOrEqual(0);
    expect(age0).toBeLessThan(2);
    await c.stopWitness();
    expect(await eventually(async () => (await metric(east, 'geogate_witness_reachable')) === 0, 15_000, 100)).toBe(true);
    const leaseS = c.byName('east').config.lease.leaseMs / 1000;
    expect(await metric(east, 'geogate_witness_last_answer_age_seconds')).toBeGreaterThanOrEqual(leaseS);
    await c.startWitness();
    expect(await eventually(async () => (await metric(east, 'geogate_witness_reachable')) === 1, 15_000, 100)).toBe(true);
    expect(await metric(east, 'geogate_witness_last_answer_age_seconds')).toBeLessThan(leaseS);
  }, 60_000);
});

describe('leases lost at the region', () => {
  it('an isolated region counts the leases it held as expired once its partitions fail over; the survivor counts none', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const east = c.byName('east').gateway.url;
    const west = c.byName('west').gateway.url;
    for (const url of [east, west]) {
      expect(await metric(url, 'geogate_leases_lost_total', { reason: 'expired' })).toBe(0);
      expect(await metric(url, 'geogate_leases_lost_total', { reason: 'taken-over' })).toBe(0);
    }
    const [key] = keysHomedAt(c, 'east', 1);
    c.isolate('east');
    expect(await eventually(async () => [200, 201].includes((await put(west, `orders/${key}`, 'w')).status), 15_000, 50)).toBe(true);
    // east is scraped on its own port (only the links between sites run through relays)
    expect(await eventually(async () => ((await metric(east, 'geogate_leases_lost_total', { reason: 'expired' })) ?? 0) >= 8, 10_000, 100)).toBe(true);
    expect(await metric(east, 'geogate_leases_lost_total', { reason: 'expired' })).toBe(8); // each held lease once
    expect(await metric(west, 'geogate_leases_lost_total', { reason: 'expired' })).toBe(0);
    expect(await metric(west, 'geogate_leases_lost_total', { reason: 'taken-over' })).toBe(0);
    c.healAll();
    // the failback hands east's partitions back: west gives up the leases it took (a handover, no loss)
    expect(await eventually(() => allLeased(c), 30_000, 200)).toBe(true);
    expect(await metric(west, 'geogate_leases_lost_total', { reason: 'expired' })).toBe(0);
    expect(await metric(west, 'geogate_leases_lost_total', { reason: 'taken-over' })).toBe(0);
    expect(await metric(east, 'geogate_leases_lost_total', { reason: 'expired' })).toBe(8);
  }, 90_000);
});

describe('request latency by status class', () => {
  it('a 201, a 404 and a 307 land in their own classes; statuses stay within the fixed set', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true });
    const c = cluster;
    expect(await eventually(() => allLeased(c), 15_000)).toBe(true);
    const east = c.byName('east').gateway.url;
    const [mine] = keysHomedAt(c, 'east', 1);
    const [theirs] = keysHomedAt(c, 'west', 1);
    expect((await put(east, `orders/${mine}`, 'x')).status).toBe(201);
    expect((await fetch(`${east}/v1/kv/orders/absent-key`)).status).toBe(404);
    expect((await put(east, `orders/${theirs}`, 'x')).status).toBe(307);
    const text = await metricsText(east);
    const count = (status_class: string, method: string) => sample(text, 'geogate_http_request_duration_seconds_count', { method, status_class });
    expect(count('2xx', 'PUT')).toBeGreaterThanOrEqual(1);
    expect(count('4xx', 'GET')).toBeGreaterThanOrEqual(1);
    expect(count('3xx', 'PUT')).toBeGreaterThanOrEqual(1);
    const classes = new Set([...text.matchAll(/geogate_http_request_duration_seconds_count\{[^}]*status_class="([^"]+)"/g)].map((m) => m[1]));
    for (const cls of classes) expect(['2xx', '3xx', '4xx', '5xx', 'other']).toContain(cls);
  }, 60_000);
});
