/**
 * Failback under load over a WAN (issue 9): two regions and a witness behind relays that
 * delay every byte by 40 ms each way; clients write about 200 writes/s; the preferred region
 * comes back after a crash. Every partition it is preferred for must come back within 5 s
 * (a partition is handed over with a short write pause, not at an instant where the whole
 * log's lag is zero, which never comes under steady traffic), and no write acknowledged by
 * either region is lost. GEOGATE_GATEWAYS_PER_REGION=N runs the first case with N gateway
 * instances per region besides (every instance of east stopped and started again, the writers
 * spread over the instances).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, eventually } from '../helpers/cluster.js';
import { PartitionMap } from '../../gateway/index.js';
import { HANDOVER_DRAIN_MS_MAX } from '../../gateway/ownership/handover.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;
let cluster: Cluster | undefined;
afterEach(async () => { await cluster?.stop(); cluster = undefined; });

const WAN_DELAY_MS = 40;
const WRITES_PER_S = 200;
const FAILBACK_MS_MAX = 5000;
/**
 * The handover's write pause: typically about 500 ms (drain, grant, hint, the new owner's
 * first round, a client retry; docs/witness.md). The median must stay under PAUSE_MS_MEDIAN_MAX;
 * the longest under the design's bound (a drain longer than HANDOVER_DRAIN_MS_MAX abandons the
 * handover under the old lease) plus a round: a loaded machine (load 10 on 2 cores) saw 2212 ms.
 */
const PAUSE_MS_MEDIAN_MAX = 1000;
const PAUSE_MS_MAX = HANDOVER_DRAIN_MS_MAX + 500;

interface Ack { key: string; value: string; region: string; atMs: number }

/**
 * One writer per key: PUT at the region's URL in `sendTo`, following 307 to the owner (named by
 * its URL in `urls`), retrying 503 every 10 ms.
 */
async function writeOnce(urls: Map<string, string>, sendTo: Map<string, string>, start: string, key: string, value: string, deadlineMs: number): Promise<Ack | null> {
  let region = start;
  while (Date.now() < deadlineMs) {
    let res: Response;
    try {
      res = await fetch(`${sendTo.get(region)}/v1/kv/orders/${key}`, { method: 'PUT', body: Buffer.from(value), redirect: 'manual', signal: AbortSignal.timeout(2000) });
    } catch {
      await sleep(10);
      continue;
    }
    await res.arrayBuffer();
    if (res.status === 200 || res.status === 201) return { key, value, region, atMs: Date.now() };
    if (res.status === 307) { region = regionOf(urls, res.headers.get('location') ?? ''); continue; }
    if (res.status !== 503) throw new Error(`PUT ${key}: unexpected ${res.status}`);
    await sleep(10);
  }
  return null;
}

function regionOf(urls: Map<string, string>, location: string): string {
  const hit = [...urls].find(([, url]) => location.startsWith(url));
  if (!hit) throw new Error(`redirect to an unknown region: ${location}`);
  return hit[0];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PER_REGION_ENV = Number(process.env.GEOGATE_GATEWAYS_PER_REGION ?? 1);

describe('failback under load over a 40 ms WAN', () => {
  it.each([...new Set([1, PER_REGION_ENV])])('the returning preferred region gets every partition back within 5 s with a short write pause, no acknowledged write lost (%i gateway instance(s) per region)', async (gatewaysPerRegion) => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true, gatewaysPerRegion });
    const c = cluster;
    for (const r of c.relays) r.set('both', { delayMs: WAN_DELAY_MS });
    // the region's coordinator holds its leases (with several instances)
    const leased = async (name: string, n: number) => {
      const url = c.coordinatorOf(name)?.url;
      return url !== undefined && (await (await fetch(`${url}/v1/status`)).json()).ownership.leased === n;
    };
    expect(await eventually(async () => (await leased('east', 8)) && (await leased('west', 8)), 20_000)).toBe(true);

    const cfg = c.regions[0]!.config;
    const map = new PartitionMap(cfg.keyspaces.find((k) => k.name === 'orders')!, cfg.cluster.regions, cfg.merkle.buckets);
    const eastHomed = new Set<number>();
    const keyOf = new Map<number, string>();
    for (let i = 0; keyOf.size < 8; i++) {
      const p = map.place(`k${i}`).partition;
      if (keyOf.has(p)) continue;
      keyOf.set(p, `k${i}`);
      if (map.nodeList(p)[0]!.region === 'east') eastHomed.add(p);
    }
    expect(eastHomed.size).toBe(4);

    await c.stopRegion('east');
    expect(await eventually(() => leased('west', 16), 15_000)).toBe(true);

    // writer w sends to instance w % N of a region; redirects name a region by its first instance
    const urlsOf = (w: number) => new Map(c.regions.map((r) => [r.region, r.instances[w % r.instances.length]!.url]));
    const urls = urlsOf(0);
    const acks: Ack[] = [];
    let stop = false;
    // one writer per partition, together about WRITES_PER_S
    const perWriterGapMs = Math.round((1000 * keyOf.size) / WRITES_PER_S);
    const writers = [...keyOf.values()].map(async (key, w) => {
      for (let n = 0; !stop; n++) {
        const t0 = Date.now();
        const ack = await writeOnce(urls, urlsOf(w), 'west', key, `${key}-${n}`, Date.now() + 10_000);
        if (ack) acks.push(ack);
        await sleep(Math.max(0, perWriterGapMs - (Date.now() - t0)));
      }
    });
    await sleep(1000);
    const restartAt = Date.now();
    await c.restartRegion('east');
    const backAt = new Map<number, number>();
    const done = await eventually(async () => {
      for (const [p, key] of keyOf) {
        if (!eastHomed.has(p) || backAt.has(p)) continue;
        if (acks.some((a) => a.key === key && a.region === 'east' && a.atMs > restartAt)) backAt.set(p, Date.now() - restartAt);
      }
      return backAt.size === eastHomed.size;
    }, 30_000, 50);
    await sleep(500);
    stop = true;
    await Promise.all(writers);
    const writerOf = new Map([...keyOf.values()].map((key, w) => [key, w]));
    console.log(`failback under load: ${backAt.size}/${eastHomed.size} partitions back, after ${[...backAt.values()].join(', ')} ms; ${acks.length} writes acknowledged`
      + (gatewaysPerRegion > 1 ? `; by partition (its writer's instance): ${[...backAt].map(([p, ms]) => `${p} (${writerOf.get(keyOf.get(p)!)! % gatewaysPerRegion}) ${ms} ms`).join(', ')}` : ''));
    expect(done, `partitions back at east: ${backAt.size} of ${eastHomed.size}`).toBe(true);
    expect(Math.max(...backAt.values())).toBeLessThanOrEqual(FAILBACK_MS_MAX);

    // the write pause of each handover: last ack at west before east's first ack
    const pauses: number[] = [];
    for (const p of eastHomed) {
      const key = keyOf.get(p)!;
      const mine = acks.filter((a) => a.key === key);
      const firstEast = mine.findIndex((a) => a.region === 'east' && a.atMs > restartAt);
      if (firstEast > 0) pauses.push(mine[firstEast]!.atMs - mine[firstEast - 1]!.atMs);
    }
    console.log(`handover write pauses (ms): ${pauses.join(', ')}`);
    expect(pauses.length, 'handover pauses measured').toBeGreaterThan(0);
    const sorted = [...pauses].sort((a, b) => a - b);
    expect(sorted[Math.floor((sorted.length - 1) / 2)]!).toBeLessThanOrEqual(PAUSE_MS_MEDIAN_MAX);
    expect(Math.max(...pauses)).toBeLessThanOrEqual(PAUSE_MS_MAX);

    // no acknowledged write lost: the last acknowledged value of every key is the value everywhere
    for (const [, key] of keyOf) {
      const last = acks.filter((a) => a.key === key).at(-1)!;
      for (const r of c.regions) {
        expect(await eventually(async () => {
          const rec = await r.gateway.store.get('orders', key);
          return !!rec && Buffer.from(rec.value).toString() === last.value;
        }, 10_000), `${key} at ${r.region}`).toBe(true);
      }
    }
  }, 90_000);

  it('multi-master partitions come back too while both regions keep writing them', async () => {
    cluster = await startCluster(['east', 'west'], { witness: true, wan: true });
    const c = cluster;
    for (const r of c.relays) r.set('both', { delayMs: WAN_DELAY_MS });
    const leased = async (name: string) => (await (await fetch(`${c.byName(name).gateway.url}/v1/status`)).json()).ownership.leased as number;
    expect(await eventually(async () => (await leased('east')) === 8 && (await leased('west')) === 8, 20_000)).toBe(true);
    await c.stopGateway('east');
    expect(await eventually(async () => (await leased('west')) === 16, 15_000)).toBe(true);
    let stop = false;
    let acked = 0;
    // carts is multi-master: every region takes writes for every partition, east as soon as it is back
    const writers = ['east', 'west'].flatMap((region) => Array.from({ length: 4 }, async (_, w) => {
      for (let n = 0; !stop; n++) {
        const res = await fetch(`${c.byName(region).gateway.url}/v1/kv/carts/mm-${w}-${n % 16}`, { method: 'PUT', body: `${region}-${n}`, signal: AbortSignal.timeout(2000) }).catch(() => null);
        if (res) { await res.arrayBuffer(); if (res.ok) acked++; }
        await sleep(res ? 10 : 50);
      }
    }));
    await sleep(1000);
    await c.restartGateway('east');
    const restartedAt = Date.now();
    const back = await eventually(async () => (await leased('east')) === 8, 15_000, 50);
    const backMs = Date.now() - restartedAt;
    stop = true;
    await Promise.all(writers);
    console.log(`multi-master failback under load: east's 8 partitions ${back ? `back after ${backMs} ms` : 'NOT back within 15 s'}; ${acked} writes acknowledged`);
    expect(back).toBe(true);
    expect(backMs).toBeLessThanOrEqual(FAILBACK_MS_MAX);
  }, 90_000);
});
