/**
 * Test fixtures: real redis-server processes on random loopback ports and gateways in front
 * of them, each with its own temp dir and key prefix; everything is stopped by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisProcess } from '../../infra/local/redis-process.js';
import { freePort } from '../../infra/local/ports.js';
import { parseGatewayConfig, startGateway, type GatewayConfig, type RunningGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';

export const TEST_SECRET = 'test-secret-0123456789abcdef';

export interface RegionFixture {
  region: string;
  redis: RedisProcess;
  gateway: RunningGateway;
  config: GatewayConfig;
}

export async function startRedis(): Promise<{ redis: RedisProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'geogate-redis-'));
  return { redis: await RedisProcess.start({ dir }), dir };
}

export function baseConfig(region: string, regions: string[], redisUrl: string, port: number, extra: Record<string, unknown> = {}): GatewayConfig {
  return parseGatewayConfig({
    region,
    listen: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    redis: { url: redisUrl, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:` },
    cluster: { id: 'test', secret: TEST_SECRET, regions },
    keyspaces: [
      { name: 'orders', partitions: 8, onSplit: 'fence' },
      { name: 'carts', partitions: 8, onSplit: 'diverge', writes: 'multi-master' },
    ],
    ...extra,
  }, 'test-config');
}

/** One region with its own redis-server and gateway. */
export async function startRegion(region: string, regions: string[] = [region], extra: Record<string, unknown> = {}): Promise<RegionFixture & { stop(): Promise<void> }> {
  const { redis, dir } = await startRedis();
  const port = await freePort();
  const config = baseConfig(region, regions, redis.url, port, extra);
  const gateway = await startGateway(config, { log: silentLogger() });
  return {
    region, redis, gateway, config,
    async stop() {
      await gateway.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
