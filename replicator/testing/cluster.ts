/** Regions on loopback for the replicator tests: one http.Server + Replicator + in-memory store each. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { realClock, seededRandom } from '../../infra/clock.js';
import { silentLogger } from '../../infra/log.js';
import { MemoryLog, MemorySink } from '../memory.js';
import type { ReplicatorTunables } from '../options.js';
import { Replicator } from '../replicator.js';

export const SECRET = 'test-cluster-secret-0123456789';

export interface TestRegion {
  readonly name: string;
  readonly server: Server;
  readonly url: string;
  readonly log: MemoryLog;
  readonly sink: MemorySink;
  readonly registry: Registry;
  replicator: Replicator;
}

export async function listen(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export type RegionOverrides = Partial<Omit<ReplicatorTunables, 'region' | 'peers'>>;

/** Starts fully meshed regions; `overrides[name]` tunes one region. */
export async function startCluster(names: readonly string[], overrides: Record<string, RegionOverrides> = {}): Promise<TestRegion[]> {
  const listening = await Promise.all(names.map(() => listen()));
  const regions = names.map((name, i): TestRegion => {
    const { server, url } = listening[i]!;
    const log = new MemoryLog(`${name}-inc-1`);
    const sink = new MemorySink();
    const registry = new Registry();
    const peers = names.flatMap((peer, j) => (peer === name ? [] : [{ region: peer, url: listening[j]!.url }]));
    const region: TestRegion = { name, server, url, log, sink, registry, replicator: undefined as unknown as Replicator };
    region.replicator = newReplicator(region, peers, overrides[name] ?? {});
    return region;
  });
  for (const region of regions) {
    region.replicator.attach(region.server);
    region.replicator.start();
  }
  return regions;
}

export function newReplicator(region: Omit<TestRegion, 'replicator'>, peers: { region: string; url: string }[], overrides: RegionOverrides = {}): Replicator {
  return new Replicator({
    region: region.name, clusterId: 'test-cluster', secret: SECRET, peers,
    source: region.log, sink: region.sink, clock: realClock, random: seededRandom(region.name.length),
    log: silentLogger(), registry: region.registry,
    backoff: { initialMs: 20, maxMs: 200 }, pollMs: 200,
    ...overrides,
  });
}

export async function stopCluster(regions: readonly TestRegion[]): Promise<void> {
  for (const region of regions) {
    await region.replicator.stop();
    region.server.closeAllConnections();
    await new Promise<void>((resolve) => region.server.close(() => resolve()));
  }
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val));
  return hit?.value ?? 0;
}

/** One region serving on its own port with the given peers (not started by anyone else). */
export async function startRegion(name: string, peers: { region: string; url: string }[], overrides: RegionOverrides = {}): Promise<TestRegion> {
  const { server, url } = await listen();
  const base = { name, server, url, log: new MemoryLog(`${name}-inc-1`), sink: new MemorySink(), registry: new Registry() };
  const region: TestRegion = { ...base, replicator: newReplicator(base, peers, overrides) };
  region.replicator.attach(server);
  region.replicator.start();
  return region;
}
