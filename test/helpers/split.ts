/**
 * Helpers of the split-and-merge tests on a real cluster (startCluster with `wan: true`):
 * keys placed by their partition's active region, a WAN split, and "settled".
 */
import { expect } from 'vitest';
import { eventually, type ClusterFixture, type ClusterControls } from './cluster.js';

type Cluster = ClusterFixture & ClusterControls;

/** `count` keys `<prefix><i>` of `keyspace` whose partition's active (resolving) region is `region`. */
export function keysActiveAt(c: ClusterFixture, region: string, count: number, o: { keyspace?: string; prefix?: string } = {}): string[] {
  const keyspace = o.keyspace ?? 'carts';
  const prefix = o.prefix ?? 'k';
  const g = c.byName(region).gateway;
  const ks = g.config.keyspaces.find((k) => k.name === keyspace)!;
  const map = g.context.maps.get(keyspace)!;
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 10_000; i++) {
    if (g.context.authority.activeRegion(ks, map.place(`${prefix}${i}`).partition) === region) out.push(`${prefix}${i}`);
  }
  return out;
}

/** Every region's (first) link is in `state` (at the region's coordinator, with several instances). */
export function linksAre(c: ClusterFixture, state: 'up' | 'down'): boolean {
  return c.regions.every((r) => c.coordinatorOf(r.region)?.gateway.replicator?.status()[0]?.state === state);
}

/** Waits for both links up, cuts east <-> west both ways (blackhole) and waits until both are down. */
export async function splitEastWest(c: Cluster): Promise<void> {
  expect(await eventually(() => linksAre(c, 'up'), 10_000)).toBe(true);
  c.cutLink('east', 'west');
  expect(await eventually(() => linksAre(c, 'down'), 10_000)).toBe(true);
}

/** Every region holds the same version of each key of `keyspace` and no conflict is pending. */
export async function settled(c: ClusterFixture, keys: string[], keyspace = 'carts'): Promise<boolean> {
  for (const r of c.regions) if ((await r.gateway.conflicts.pendingCount()) > 0) return false;
  for (const key of keys) {
    const recs = await Promise.all(c.regions.map((r) => r.gateway.store.get(keyspace, key)));
    if (recs.some((x) => !x || x.version !== recs[0]!.version)) return false;
  }
  return true;
}
