/**
 * Two regions (east, west), each with its own redis-server and an in-process gateway,
 * meshed over loopback, for tests that crash, restore or restart one side's Redis and
 * gateway. `runCleanups` (afterEach) stops everything started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { RedisProcess } from '../../infra/local/redis-process.js';
import { freePort } from '../../infra/local/ports.js';
import { startGateway, type GatewayConfig, type RunningGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { baseConfig, eventually } from './cluster.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Side {
  region: string;
  redis: RedisProcess;
  dir: string;
  config: GatewayConfig;
  gateway: RunningGateway;
}

const cleanups: (() => Promise<void>)[] = [];

export async function twoRegions(east: { appendOnly: boolean }, extra: (region: string) => Record<string, unknown> = () => ({})): Promise<{ east: Side; west: Side }> {
  const names = ['east', 'west'];
  const ports = new Map<string, number>();
  for (const n of names) ports.set(n, await freePort());
  const prefix = `rb${Math.random().toString(36).slice(2, 8)}:`;
  const sides: Side[] = [];
  for (const region of names) {
    const dir = mkdtempSync(join(tmpdir(), `geogate-rollback-${region}-`));
    const redis = await RedisProcess.start({ dir, appendOnly: region === 'east' ? east.appendOnly : true, appendFsync: 'everysec' });
    const peer = names.find((n) => n !== region)!;
    const config = baseConfig(region, names, redis.url, ports.get(region)!, {
      peers: [{ region: peer, url: `http://127.0.0.1:${ports.get(peer)}` }],
      redis: { url: redis.url, keyPrefix: prefix },
      ...extra(region),
    });
    const side: Side = { region, redis, dir, config, gateway: await startGateway(config, { log: silentLogger() }) };
    sides.push(side);
    cleanups.push(async () => {
      await side.gateway.close().catch(() => {});
      await side.redis.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    });
  }
  expect(await eventually(() => sides.every((s) => s.gateway.writesOpen()), 15_000)).toBe(true);
  return { east: sides[0]!, west: sides[1]! };
}

/** PUT until the region takes it (503 while it re-checks or rebuilds its store); the final status. */
export async function putAcked(g: RunningGateway, key: string, value: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${g.url}/v1/kv/carts/${key}`, { method: 'PUT', body: Buffer.from(value) });
    await res.arrayBuffer();
    if (res.status < 300 || res.status !== 503 || Date.now() > deadline) return res.status;
    await sleep(50);
  }
}

export const value = async (g: RunningGateway, key: string) => {
  const rec = await g.store.get('carts', key);
  return rec && !rec.tombstone ? Buffer.from(rec.value).toString() : null;
};

export async function allHave(g: RunningGateway, expected: Map<string, string>): Promise<string[]> {
  const wrong: string[] = [];
  for (const [k, v] of expected) if ((await value(g, k)) !== v) wrong.push(k);
  return wrong;
}


export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
}
